namespace DeepLearning.Kernels;

/// <summary>op(X) in a GEMM: X itself, or its transpose Xᵀ.</summary>
public enum Transpose
{
    /// <summary>op(X) = X.</summary>
    None = 0,

    /// <summary>op(X) = Xᵀ.</summary>
    Transposed = 1,
}

/// <summary>The activation a GEMM epilogue applies to each output element while it is still in registers.</summary>
public enum FusedActivation
{
    /// <summary>out = z.</summary>
    Identity = 0,

    /// <summary>out = max(0, z).</summary>
    ReLU = 1,

    /// <summary>out = z if z &gt; 0, else slope·z.</summary>
    LeakyReLU = 2,

    /// <summary>out = 1 / (1 + e⁻ᶻ).</summary>
    Sigmoid = 3,

    /// <summary>out = tanh z.</summary>
    Tanh = 4,
}
