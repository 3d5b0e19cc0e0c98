using System.Collections.Concurrent;
using System.Numerics;

namespace DeepLearning;

/// <summary>Creates a layer of one kind from its <see cref="LayerConfig"/>; register one for a custom layer so saved models load.</summary>
public interface ILayerFactory
{
    /// <summary>Builds the layer. Weights are overwritten afterwards when a model is loaded.</summary>
    ILayer<T> Create<T>(LayerConfig config, RandomSource random)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// Maps a <see cref="LayerConfig.Kind"/> to the factory that rebuilds it. The built-in kinds are
/// registered; a custom layer registers its own with <see cref="Register"/>.
/// </summary>
public static class LayerRegistry
{
    private static readonly ConcurrentDictionary<string, ILayerFactory> _factories = new(StringComparer.Ordinal)
    {
        ["Dense"] = new BuiltIn(),
        ["Activation"] = new BuiltIn(),
        ["Dropout"] = new BuiltIn(),
        ["BatchNorm"] = new BuiltIn(),
    };

    /// <summary>Registers (or replaces) the factory for <paramref name="kind"/>.</summary>
    public static void Register(string kind, ILayerFactory factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(factory);
        _factories[kind] = factory;
    }

    /// <summary>True when a factory is registered for <paramref name="kind"/>.</summary>
    internal static bool IsRegistered(string kind) => _factories.ContainsKey(kind);

    /// <summary>
    /// An activation by its exact name ("ReLU", "Tanh", …). Unlike <see cref="Enum.Parse{TEnum}(string)"/> it refuses
    /// numeric strings ("4" is not "Tanh") and any other text.
    /// </summary>
    /// <exception cref="FormatException">The text is not the name of an activation.</exception>
    internal static Activation ParseActivation(string name) =>
        Enum.GetNames<Activation>().Contains(name, StringComparer.Ordinal)
            ? Enum.Parse<Activation>(name)
            : throw new FormatException($"unknown activation '{name}'; expected one of {string.Join(", ", Enum.GetNames<Activation>())}");

    /// <summary>Rebuilds a layer from its config.</summary>
    /// <exception cref="FormatException">The kind is unknown or a setting is missing or invalid.</exception>
    /// <exception cref="InvalidOperationException">The factory registered for the kind returned null.</exception>
    public static ILayer<T> Create<T>(LayerConfig config, RandomSource random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!_factories.TryGetValue(config.Kind, out var factory))
        {
            throw new FormatException($"unknown layer kind '{config.Kind}'; register a factory for it with LayerRegistry.Register");
        }

        return factory.Create<T>(config, random)
            ?? throw new InvalidOperationException($"the factory registered for layer kind '{config.Kind}' ({factory.GetType().Name}) returned null for a {typeof(T).Name} layer of {config.InputSize} inputs; it must return the layer");
    }

    private sealed class BuiltIn : ILayerFactory
    {
        public ILayer<T> Create<T>(LayerConfig config, RandomSource random)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            try
            {
                return config.Kind switch
                {
                    "Dense" => new Dense<T>(
                        config.InputSize,
                        config.GetInt("units"),
                        ParseActivation(config.Get("activation")),
                        Initializer.Parse(config.Get("initializer")),
                        random,
                        config.GetBool("useBias"),
                        config.GetDouble("leakySlope"),
                        config.Settings.TryGetValue("biasInitializer", out var biasInit) ? Initializer.Parse(biasInit) : null),
                    "Activation" => new ActivationLayer<T>(config.InputSize, ParseActivation(config.Get("activation")), config.GetDouble("leakySlope")),
                    "Dropout" => new Dropout<T>(config.InputSize, config.GetDouble("keepProb"), random),
                    "BatchNorm" => new BatchNorm<T>(config.InputSize, config.GetDouble("momentum"), config.GetDouble("epsilon")),
                    _ => throw new FormatException($"unknown layer kind '{config.Kind}'"),
                };
            }
            catch (Exception e) when (e is ArgumentException or OverflowException)
            {
                throw new FormatException($"invalid {config.Kind} layer settings: {e.Message}", e);
            }
        }
    }
}
