using System.Buffers.Binary;
using System.Text;

namespace DeepLearning.Onnx.Proto;

/// <summary>
/// A bounded protocol-buffers decoder over bytes already in memory. Every length is checked against the bytes
/// that remain before anything is sliced or allocated, so a lying length can never make it allocate more than the
/// input holds; every error is an <see cref="InvalidDataException"/> naming the message being read.
/// </summary>
internal ref struct ProtoReader
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLength = 2;
    public const int WireFixed32 = 5;
    private static readonly UTF8Encoding _utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlyMemory<byte> _memory;
    private readonly string _context;
    private int _position;

    public ProtoReader(ReadOnlyMemory<byte> memory, string context)
    {
        _memory = memory;
        _context = context;
        _position = 0;
    }

    public readonly bool AtEnd => _position >= _memory.Length;

    public readonly string Context => _context;

    /// <summary>Reads the next field's tag: its number and wire type.</summary>
    public (int Field, int WireType) Tag()
    {
        ulong tag = Varint();
        int wire = (int)(tag & 7);
        ulong field = tag >> 3;
        if (field == 0 || field > (1u << 29) - 1)
        {
            throw Bad($"field number {field} is out of range");
        }

        if (wire is not (WireVarint or WireFixed64 or WireLength or WireFixed32))
        {
            throw Bad($"field {field} has unsupported wire type {wire}");
        }

        return ((int)field, wire);
    }

    public ulong Varint()
    {
        var span = _memory.Span;
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= span.Length)
            {
                throw Bad("a varint runs past the end of the data");
            }

            byte b = span[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw Bad("a varint is longer than 10 bytes");
    }

    public long Int64(int wireType)
    {
        Expect(wireType, WireVarint);
        return unchecked((long)Varint());
    }

    public int Int32(int wireType, string name)
    {
        long v = Int64(wireType);
        if (v is < int.MinValue or > int.MaxValue)
        {
            throw Bad($"{name} = {v} does not fit in 32 bits");
        }

        return (int)v;
    }

    public float Float(int wireType)
    {
        Expect(wireType, WireFixed32);
        return BinaryPrimitives.ReadSingleLittleEndian(Take(4).Span);
    }

    public ReadOnlyMemory<byte> LengthDelimited(int wireType)
    {
        Expect(wireType, WireLength);
        ulong length = Varint();
        if (length > (ulong)(_memory.Length - _position))
        {
            throw Bad($"a field declares {length} bytes but only {_memory.Length - _position} remain");
        }

        return Take((int)length);
    }

    public string String(int wireType, string name)
    {
        var bytes = LengthDelimited(wireType);
        try
        {
            return _utf8.GetString(bytes.Span);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{name} is not valid UTF-8");
        }
    }

    /// <summary>Skips one field of the given wire type.</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case WireVarint: Varint(); break;
            case WireFixed64: Take(8); break;
            case WireFixed32: Take(4); break;
            default: LengthDelimited(wireType); break;
        }
    }

    /// <summary>
    /// Reads a repeated 64-bit integer field, packed (one length-delimited run) or not (one value per tag), appending
    /// to <paramref name="values"/>, which may hold at most <paramref name="limit"/> values.
    /// </summary>
    public void RepeatedInt64(int wireType, List<long> values, int limit, string name)
    {
        if (wireType == WireLength)
        {
            var inner = new ProtoReader(LengthDelimited(wireType), _context);
            while (!inner.AtEnd)
            {
                AddBounded(values, unchecked((long)inner.Varint()), limit, name);
            }
        }
        else
        {
            AddBounded(values, Int64(wireType), limit, name);
        }
    }

    /// <summary>
    /// Counts the entries of a repeated varint field (one packed run, or one value per tag) without decoding or storing
    /// them; a packed run must hold whole varints of at most 10 bytes.
    /// </summary>
    public int CountVarints(int wireType, string name)
    {
        if (wireType != WireLength)
        {
            Int64(wireType);
            return 1;
        }

        var run = LengthDelimited(wireType).Span;
        int count = 0, length = 0;
        foreach (byte b in run)
        {
            length++;
            if (length > 10)
            {
                throw Bad($"packed {name} holds a varint longer than 10 bytes");
            }

            if (b < 0x80)
            {
                count++;
                length = 0;
            }
        }

        if (length != 0)
        {
            throw Bad($"packed {name} ends inside a varint");
        }

        return count;
    }

    /// <summary>A repeated float field, packed or not; a packed run's size is checked before its array is made.</summary>
    public void RepeatedFloat(int wireType, List<float> values, int limit, string name)
    {
        if (wireType == WireLength)
        {
            var run = LengthDelimited(wireType);
            if (run.Length % 4 != 0)
            {
                throw Bad($"packed {name} has {run.Length} bytes, not a multiple of 4");
            }

            if (values.Count + (run.Length / 4) > limit)
            {
                throw Bad($"{name} holds more than {limit} values");
            }

            values.EnsureCapacity(values.Count + (run.Length / 4));
            var span = run.Span;
            for (int i = 0; i < span.Length; i += 4)
            {
                values.Add(BinaryPrimitives.ReadSingleLittleEndian(span[i..]));
            }
        }
        else
        {
            AddBounded(values, Float(wireType), limit, name);
        }
    }

    /// <summary>A repeated double field, packed or not.</summary>
    public void RepeatedDouble(int wireType, List<double> values, int limit, string name)
    {
        if (wireType == WireLength)
        {
            var run = LengthDelimited(wireType);
            if (run.Length % 8 != 0)
            {
                throw Bad($"packed {name} has {run.Length} bytes, not a multiple of 8");
            }

            if (values.Count + (run.Length / 8) > limit)
            {
                throw Bad($"{name} holds more than {limit} values");
            }

            values.EnsureCapacity(values.Count + (run.Length / 8));
            var span = run.Span;
            for (int i = 0; i < span.Length; i += 8)
            {
                values.Add(BinaryPrimitives.ReadDoubleLittleEndian(span[i..]));
            }
        }
        else
        {
            Expect(wireType, WireFixed64);
            AddBounded(values, BinaryPrimitives.ReadDoubleLittleEndian(Take(8).Span), limit, name);
        }
    }

    public readonly InvalidDataException Bad(string message) => new($"{_context}: {message}");

    public readonly void AddBounded<TItem>(List<TItem> list, TItem item, int limit, string name)
    {
        if (list.Count >= limit)
        {
            throw Bad($"{name} holds more than {limit} entries");
        }

        list.Add(item);
    }

    private ReadOnlyMemory<byte> Take(int count)
    {
        if (count > _memory.Length - _position)
        {
            throw Bad($"a field needs {count} bytes but only {_memory.Length - _position} remain");
        }

        var slice = _memory.Slice(_position, count);
        _position += count;
        return slice;
    }

    private readonly void Expect(int wireType, int expected)
    {
        if (wireType != expected)
        {
            throw Bad($"a field has wire type {wireType}; expected {expected}");
        }
    }
}
