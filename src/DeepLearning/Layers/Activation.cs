namespace DeepLearning.Layers;

/// <summary>The activation functions g(z) of the course.</summary>
public enum Activation
{
    /// <summary>g(z) = z (no activation).</summary>
    Linear = 0,

    /// <summary>g(z) = max(0, z).</summary>
    ReLU = 1,

    /// <summary>g(z) = z if z &gt; 0, else slope·z (slope 0.01 by default).</summary>
    LeakyReLU = 2,

    /// <summary>g(z) = σ(z) = 1 / (1 + e⁻ᶻ).</summary>
    Sigmoid = 3,

    /// <summary>g(z) = tanh z.</summary>
    Tanh = 4,

    /// <summary>Row-wise softmax: g(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}. Only as an output layer.</summary>
    Softmax = 5,
}
