namespace DeepLearning.Onnx.Proto;

// The subset of ONNX's protobuf schema (onnx.proto, Apache-2.0, https://github.com/onnx/onnx) that the exporter
// writes and the importer reads. Field numbers and enum values are those of onnx.proto; fields not listed here are
// skipped when reading.

/// <summary>TensorProto.DataType values used here.</summary>
internal static class OnnxDataType
{
    public const int Float = 1;
    public const int Int64 = 7;
    public const int Double = 11;

    public static string Name(int type) => type switch
    {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        16 => "BFLOAT16",
        _ => $"type {type}",
    };
}

/// <summary>AttributeProto.AttributeType values.</summary>
internal static class OnnxAttributeType
{
    public const int Float = 1;
    public const int Int = 2;
    public const int String = 3;
    public const int Tensor = 4;
    public const int Graph = 5;
    public const int Floats = 6;
    public const int Ints = 7;
}

/// <summary>Limits that bound what a hostile file can make the reader allocate (a dense network needs far less).</summary>
internal static class OnnxLimits
{
    public const int MaxNodes = 10_000;
    public const int MaxInitializers = 10_000;
    public const int MaxValueInfos = 1_000;
    public const int MaxAttributes = 64;
    public const int MaxNodeIo = 64;
    public const int MaxDims = 8;
    public const int MaxMetadata = 1_000;
    public const int MaxOpsets = 64;
    public const int MaxAttributeValues = 1 << 20;
}

internal sealed class ModelProto
{
    public long IrVersion { get; set; }

    public List<(string Domain, long Version)> Opsets { get; } = [];

    public string ProducerName { get; set; } = string.Empty;

    public string ProducerVersion { get; set; } = string.Empty;

    public string DocString { get; set; } = string.Empty;

    public GraphProto? Graph { get; set; }

    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    public byte[] Encode()
    {
        var w = new ProtoWriter();
        w.Int64(1, IrVersion);
        if (ProducerName.Length > 0)
        {
            w.String(2, ProducerName);
        }

        if (ProducerVersion.Length > 0)
        {
            w.String(3, ProducerVersion);
        }

        if (DocString.Length > 0)
        {
            w.String(6, DocString);
        }

        if (Graph is not null)
        {
            w.Message(7, Graph.Write);
        }

        foreach (var (domain, version) in Opsets)
        {
            w.Message(8, o =>
            {
                o.String(1, domain);
                o.Int64(2, version);
            });
        }

        foreach (var (key, value) in Metadata)
        {
            w.Message(14, e =>
            {
                e.String(1, key);
                e.String(2, value);
            });
        }

        return w.ToArray();
    }

    public static ModelProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var model = new ModelProto();
        var r = new ProtoReader(bytes, "ModelProto");
        bool sawGraph = false;
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: model.IrVersion = r.Int64(wire); break;
                case 2: model.ProducerName = r.String(wire, "producer_name"); break;
                case 3: model.ProducerVersion = r.String(wire, "producer_version"); break;
                case 7:
                    if (sawGraph)
                    {
                        throw r.Bad("the model holds more than one graph");
                    }

                    sawGraph = true;
                    model.Graph = GraphProto.Decode(r.LengthDelimited(wire));
                    break;
                case 8:
                    {
                        var o = new ProtoReader(r.LengthDelimited(wire), "OperatorSetIdProto");
                        string domain = string.Empty;
                        long version = 0;
                        while (!o.AtEnd)
                        {
                            var (f, w) = o.Tag();
                            switch (f)
                            {
                                case 1: domain = o.String(w, "domain"); break;
                                case 2: version = o.Int64(w); break;
                                default: o.Skip(w); break;
                            }
                        }

                        r.AddBounded(model.Opsets, (domain, version), OnnxLimits.MaxOpsets, "opset_import");
                        break;
                    }

                case 14:
                    {
                        var e = new ProtoReader(r.LengthDelimited(wire), "StringStringEntryProto");
                        string key = string.Empty, value = string.Empty;
                        while (!e.AtEnd)
                        {
                            var (f, w) = e.Tag();
                            switch (f)
                            {
                                case 1: key = e.String(w, "key"); break;
                                case 2: value = e.String(w, "value"); break;
                                default: e.Skip(w); break;
                            }
                        }

                        r.AddBounded(model.Metadata, new KeyValuePair<string, string>(key, value), OnnxLimits.MaxMetadata, "metadata_props");
                        break;
                    }

                default: r.Skip(wire); break;
            }
        }

        return model;
    }
}

internal sealed class GraphProto
{
    public string Name { get; set; } = string.Empty;

    public string DocString { get; set; } = string.Empty;

    public List<NodeProto> Nodes { get; } = [];

    public List<TensorProto> Initializers { get; } = [];

    public List<ValueInfoProto> Inputs { get; } = [];

    public List<ValueInfoProto> Outputs { get; } = [];

    public void Write(ProtoWriter w)
    {
        foreach (var node in Nodes)
        {
            w.Message(1, node.Write);
        }

        w.String(2, Name);
        foreach (var t in Initializers)
        {
            w.Message(5, t.Write);
        }

        if (DocString.Length > 0)
        {
            w.String(10, DocString);
        }

        foreach (var v in Inputs)
        {
            w.Message(11, v.Write);
        }

        foreach (var v in Outputs)
        {
            w.Message(12, v.Write);
        }
    }

    public static GraphProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var g = new GraphProto();
        var r = new ProtoReader(bytes, "GraphProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: r.AddBounded(g.Nodes, NodeProto.Decode(r.LengthDelimited(wire)), OnnxLimits.MaxNodes, "graph.node"); break;
                case 2: g.Name = r.String(wire, "graph.name"); break;
                case 5: r.AddBounded(g.Initializers, TensorProto.Decode(r.LengthDelimited(wire)), OnnxLimits.MaxInitializers, "graph.initializer"); break;
                case 11: r.AddBounded(g.Inputs, ValueInfoProto.Decode(r.LengthDelimited(wire)), OnnxLimits.MaxValueInfos, "graph.input"); break;
                case 12: r.AddBounded(g.Outputs, ValueInfoProto.Decode(r.LengthDelimited(wire)), OnnxLimits.MaxValueInfos, "graph.output"); break;
                case 15: throw new NotSupportedException("the graph holds sparse initializers; only dense initializers are supported");
                default: r.Skip(wire); break;
            }
        }

        return g;
    }
}

internal sealed class NodeProto
{
    public string Name { get; set; } = string.Empty;

    public string OpType { get; set; } = string.Empty;

    public string Domain { get; set; } = string.Empty;

    public List<string> Inputs { get; } = [];

    public List<string> Outputs { get; } = [];

    public List<AttributeProto> Attributes { get; } = [];

    public void Write(ProtoWriter w)
    {
        foreach (var i in Inputs)
        {
            w.String(1, i);
        }

        foreach (var o in Outputs)
        {
            w.String(2, o);
        }

        w.String(3, Name);
        w.String(4, OpType);
        foreach (var a in Attributes)
        {
            w.Message(5, a.Write);
        }

        if (Domain.Length > 0)
        {
            w.String(7, Domain);
        }
    }

    public static NodeProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var n = new NodeProto();
        var r = new ProtoReader(bytes, "NodeProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: r.AddBounded(n.Inputs, r.String(wire, "node.input"), OnnxLimits.MaxNodeIo, "node.input"); break;
                case 2: r.AddBounded(n.Outputs, r.String(wire, "node.output"), OnnxLimits.MaxNodeIo, "node.output"); break;
                case 3: n.Name = r.String(wire, "node.name"); break;
                case 4: n.OpType = r.String(wire, "node.op_type"); break;
                case 5: r.AddBounded(n.Attributes, AttributeProto.Decode(r.LengthDelimited(wire)), OnnxLimits.MaxAttributes, "node.attribute"); break;
                case 7: n.Domain = r.String(wire, "node.domain"); break;
                default: r.Skip(wire); break;
            }
        }

        return n;
    }
}

internal sealed class AttributeProto
{
    public string Name { get; set; } = string.Empty;

    public int Type { get; set; }

    public float F { get; set; }

    public long I { get; set; }

    public TensorProto? T { get; set; }

    public List<float> Floats { get; } = [];

    public List<long> Ints { get; } = [];

    public bool HasValue { get; private set; }

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = OnnxAttributeType.Float, F = value, HasValue = true };

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = OnnxAttributeType.Int, I = value, HasValue = true };

    public void Write(ProtoWriter w)
    {
        w.String(1, Name);
        switch (Type)
        {
            case OnnxAttributeType.Float: w.Float(2, F); break;
            case OnnxAttributeType.Int: w.Int64(3, I); break;
            default: throw new InvalidOperationException($"attribute type {Type} is not written by the exporter");
        }

        w.Int64(20, Type);
    }

    public static AttributeProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var a = new AttributeProto();
        var r = new ProtoReader(bytes, "AttributeProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: a.Name = r.String(wire, "attribute.name"); break;
                case 2: a.F = r.Float(wire); a.HasValue = true; break;
                case 3: a.I = r.Int64(wire); a.HasValue = true; break;
                case 5: a.T = TensorProto.Decode(r.LengthDelimited(wire)); a.HasValue = true; break;
                case 7: r.RepeatedFloat(wire, a.Floats, OnnxLimits.MaxAttributeValues, "attribute.floats"); a.HasValue = true; break;
                case 8: r.RepeatedInt64(wire, a.Ints, OnnxLimits.MaxDims * 8, "attribute.ints"); a.HasValue = true; break;
                case 20: a.Type = r.Int32(wire, "attribute.type"); break;
                default: r.Skip(wire); a.HasValue |= field is 4 or 6 or 9 or 10 or 11 or 14 or 15 or 21 or 22 or 23; break;
            }
        }

        return a;
    }
}

internal sealed class TensorProto
{
    public string Name { get; set; } = string.Empty;

    public List<long> Dims { get; } = [];

    public int DataType { get; set; }

    /// <summary>raw_data: a slice of the file's bytes (no copy) when reading.</summary>
    public ReadOnlyMemory<byte> Raw { get; set; }

    public bool HasRaw { get; set; }

    public List<float> FloatData { get; } = [];

    public List<double> DoubleData { get; } = [];

    /// <summary>
    /// int32_data to write (where BOOL, INT8/16/32, UINT8/16, FLOAT16 and BFLOAT16 values are kept when not in
    /// raw_data); a tensor built in code for <see cref="Write"/>. A decoded tensor leaves it empty and keeps its
    /// int32_data and int64_data undecoded: see <see cref="Int32Count"/> and <see cref="ReadIntegers{TOut}"/>.
    /// </summary>
    public List<long> Int32Data { get; } = [];

    /// <summary>int64_data to write (INT64 values not in raw_data); like <see cref="Int32Data"/>, empty in a decoded tensor.</summary>
    public List<long> Int64Data { get; } = [];

    /// <summary>The number of int32_data entries of a decoded tensor, counted without decoding them.</summary>
    public int Int32Count { get; private set; }

    /// <summary>The number of int64_data entries of a decoded tensor, counted without decoding them.</summary>
    public int Int64Count { get; private set; }

    // The decoded message's bytes (a slice of the file, no copy): int32_data and int64_data are read from it on demand,
    // so a tensor nobody reads (an INT64 shape, a FLOAT16 weight) costs nothing however many entries it holds.
    private ReadOnlyMemory<byte> _message;

    public bool External { get; set; }

    public void Write(ProtoWriter w)
    {
        foreach (long d in Dims)
        {
            w.Int64(1, d);
        }

        w.Int64(2, DataType);
        w.String(8, Name);
        if (HasRaw || Raw.Length > 0 || (Int32Data.Count == 0 && Int64Data.Count == 0))
        {
            w.Bytes(9, Raw.Span);
        }

        foreach (long v in Int32Data)
        {
            w.Int64(5, v);
        }

        foreach (long v in Int64Data)
        {
            w.Int64(7, v);
        }
    }

    public static TensorProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var t = new TensorProto();
        var r = new ProtoReader(bytes, "TensorProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: r.RepeatedInt64(wire, t.Dims, OnnxLimits.MaxDims, "tensor.dims"); break;
                case 2: t.DataType = r.Int32(wire, "tensor.data_type"); break;
                case 4: r.RepeatedFloat(wire, t.FloatData, int.MaxValue, "tensor.float_data"); break;
                case 5: t.Int32Count += r.CountVarints(wire, "tensor.int32_data"); break;
                case 7: t.Int64Count += r.CountVarints(wire, "tensor.int64_data"); break;
                case 8: t.Name = r.String(wire, "tensor.name"); break;
                case 9: t.Raw = r.LengthDelimited(wire); t.HasRaw = true; break;
                case 10: r.RepeatedDouble(wire, t.DoubleData, int.MaxValue, "tensor.double_data"); break;
                case 13: r.Skip(wire); t.External = true; break;
                case 14: t.External |= r.Int64(wire) == 1; break;
                default: r.Skip(wire); break;
            }
        }

        t._message = bytes;
        return t;
    }

    /// <summary>
    /// Decodes the entries of int32_data (<paramref name="field"/> 5) or int64_data (7) of a decoded tensor into
    /// <paramref name="destination"/>, whose length must be <see cref="Int32Count"/> or <see cref="Int64Count"/>
    /// (the caller checks the count, and its budget, before allocating it).
    /// </summary>
    public void ReadIntegers<TOut>(int field, Span<TOut> destination, Func<long, TOut> convert)
    {
        int expected = field == 5 ? Int32Count : field == 7 ? Int64Count : throw new ArgumentOutOfRangeException(nameof(field), field, "int32_data (5) or int64_data (7)");
        if (destination.Length != expected)
        {
            throw new ArgumentException($"the destination holds {destination.Length} values; field {field} has {expected}", nameof(destination));
        }

        int i = 0;
        var r = new ProtoReader(_message, "TensorProto");
        while (!r.AtEnd)
        {
            var (f, wire) = r.Tag();
            if (f != field)
            {
                r.Skip(wire);
            }
            else if (wire == ProtoReader.WireLength)
            {
                var run = new ProtoReader(r.LengthDelimited(wire), "TensorProto");
                while (!run.AtEnd)
                {
                    destination[i++] = convert(unchecked((long)run.Varint()));
                }
            }
            else
            {
                destination[i++] = convert(r.Int64(wire));
            }
        }
    }
}

internal sealed class ValueInfoProto
{
    public string Name { get; set; } = string.Empty;

    public int ElemType { get; set; }

    /// <summary>Null when the type has no shape; otherwise one entry per dimension: a value, a symbolic name, or neither.</summary>
    public List<(long? Value, string? Param)>? Shape { get; set; }

    public void Write(ProtoWriter w)
    {
        w.String(1, Name);
        w.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int64(1, ElemType);
            if (Shape is not null)
            {
                tensor.Message(2, shape =>
                {
                    foreach (var (value, param) in Shape)
                    {
                        shape.Message(1, dim =>
                        {
                            if (value is long v)
                            {
                                dim.Int64(1, v);
                            }
                            else if (param is not null)
                            {
                                dim.String(2, param);
                            }
                        });
                    }
                });
            }
        }));
    }

    public static ValueInfoProto Decode(ReadOnlyMemory<byte> bytes)
    {
        var v = new ValueInfoProto();
        var r = new ProtoReader(bytes, "ValueInfoProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: v.Name = r.String(wire, "value_info.name"); break;
                case 2: DecodeType(v, r.LengthDelimited(wire)); break;
                default: r.Skip(wire); break;
            }
        }

        return v;
    }

    private static void DecodeType(ValueInfoProto v, ReadOnlyMemory<byte> bytes)
    {
        var r = new ProtoReader(bytes, "TypeProto");
        while (!r.AtEnd)
        {
            var (field, wire) = r.Tag();
            if (field != 1)
            {
                r.Skip(wire);
                continue;
            }

            var t = new ProtoReader(r.LengthDelimited(wire), "TypeProto.Tensor");
            while (!t.AtEnd)
            {
                var (f, w) = t.Tag();
                switch (f)
                {
                    case 1: v.ElemType = t.Int32(w, "elem_type"); break;
                    case 2:
                        {
                            v.Shape = [];
                            var s = new ProtoReader(t.LengthDelimited(w), "TensorShapeProto");
                            while (!s.AtEnd)
                            {
                                var (sf, sw) = s.Tag();
                                if (sf != 1)
                                {
                                    s.Skip(sw);
                                    continue;
                                }

                                var d = new ProtoReader(s.LengthDelimited(sw), "TensorShapeProto.Dimension");
                                long? value = null;
                                string? param = null;
                                while (!d.AtEnd)
                                {
                                    var (df, dw) = d.Tag();
                                    switch (df)
                                    {
                                        case 1: value = d.Int64(dw); break;
                                        case 2: param = d.String(dw, "dim_param"); break;
                                        default: d.Skip(dw); break;
                                    }
                                }

                                s.AddBounded(v.Shape, (value, param), OnnxLimits.MaxDims, "shape.dim");
                            }

                            break;
                        }

                    default: t.Skip(w); break;
                }
            }
        }
    }
}
