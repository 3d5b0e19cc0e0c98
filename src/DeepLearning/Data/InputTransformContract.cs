using System.Numerics;
using DeepLearning.Tensors;

namespace DeepLearning.Data;

/// <summary>Placeholder contract until the data branch lands (replaced by the real definitions).</summary>
public interface IInputTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The transform's kind.</summary>
    string Kind { get; }

    /// <summary>Applies the transform.</summary>
    Tensor<T> Apply(Tensor<T> x);

    /// <summary>The fitted tensors.</summary>
    IReadOnlyDictionary<string, Tensor<T>> ExportTensors();
}

/// <summary>Placeholder.</summary>
public static class InputTransforms
{
    /// <summary>Placeholder.</summary>
    public static IInputTransform<T> Restore<T>(string kind, IReadOnlyDictionary<string, Tensor<T>> tensors)
        where T : unmanaged, IFloatingPointIeee754<T> => throw new NotSupportedException(kind);
}
