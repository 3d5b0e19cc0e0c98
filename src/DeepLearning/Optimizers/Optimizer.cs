using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// The bookkeeping every optimizer shares: the learning rate α, the step counter t, and the
/// per-parameter state (momentum v, squared-gradient average s) created lazily on a parameter's
/// first update and keyed by the <see cref="Parameter{T}"/> object itself (reference identity).
/// Each concrete optimizer adds only its update rule, which also exists as a public static method
/// over spans so a test can check it against hand-computed numbers ("stateful shell, pure core").
/// </summary>
/// <remarks>
/// <para>
/// One <see cref="Step{T}(IReadOnlyList{Parameter{T}})"/> is one update of every parameter from
/// its <see cref="Parameter{T}.Gradient"/> (one mini-batch): t increases by one first, so the first
/// step runs with t = 1, which is what bias correction 1/(1 − βᵗ) needs.
/// Once every parameter's state exists, a step allocates nothing.
/// </para>
/// <para>
/// A parameter listed twice in one step is updated twice; pass each parameter once.
/// The class is not thread-safe.
/// </para>
/// </remarks>
public abstract class Optimizer
{
    private static readonly string[] _noStateNames = [];
    private readonly Dictionary<object, object> _state = new(ReferenceEqualityComparer.Instance);
    private double _learningRate;
    private WeakReference<object>? _boundTo;

    /// <summary>Initializes the shell with the learning rate α.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <exception cref="ArgumentOutOfRangeException">α is not positive and finite.</exception>
    protected Optimizer(double learningRate)
    {
        LearningRate = learningRate;
    }

    /// <summary>
    /// The learning rate α. It may be changed between steps (learning-rate decay, or babysitting a
    /// model by hand); the next step uses the new value.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and finite.</exception>
    public double LearningRate
    {
        get => _learningRate;
        set
        {
            if (!(value > 0) || !double.IsFinite(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"learningRate must be positive and finite; received {Format(value)}");
            }

            _learningRate = value;
        }
    }

    /// <summary>t: the number of <see cref="Step{T}(IReadOnlyList{Parameter{T}})"/> calls since construction or the last <see cref="Reset"/>.</summary>
    public long StepCount { get; internal set; }

    /// <summary>
    /// The largest t <see cref="ImportState{T}"/> and a resumed checkpoint accept, 2⁵³ (exact in a double): far beyond any
    /// run, and far enough below <see cref="long.MaxValue"/> that the next step's t cannot overflow.
    /// </summary>
    internal const long MaxStepCount = 1L << 53;

    /// <summary>
    /// The names of the per-parameter state tensors, each the same shape as the parameter:
    /// none for gradient descent, "v" for momentum, "s" for RMSprop, "v" and "s" for Adam and AdamW.
    /// </summary>
    public virtual IReadOnlyList<string> StateNames => _noStateNames;

    /// <summary>
    /// What the state tensor <see cref="StateNames"/>[<paramref name="index"/>] is, when its entries must be ≥ 0, or null
    /// when any finite value is valid (the default). RMSprop's and Adam's s, an average of squared gradients, must be
    /// ≥ 0: the update divides by √s + ε, and √s of a negative entry is NaN. <see cref="ImportState{T}"/> and a resumed
    /// checkpoint refuse a negative entry of such a tensor, and a NaN or ±∞ entry of any state tensor.
    /// </summary>
    /// <param name="index">The index into <see cref="StateNames"/>.</param>
    /// <returns>A short description for the error message (e.g. "an average of squared gradients"), or null.</returns>
    protected virtual string? NonNegativeStateMeaning(int index) => null;

    /// <summary>
    /// One update of every parameter from its gradient: t ← t + 1, then W ← rule(W, dW, state, t)
    /// for each parameter in order. State for a parameter seen for the first time starts at zero.
    /// </summary>
    /// <typeparam name="T">The element type (float or double).</typeparam>
    /// <param name="parameters">The parameters to update; their gradients must already hold dW.</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> or one of its items is null.</exception>
    public void Step<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        for (int i = 0; i < parameters.Count; i++)
        {
            if (parameters[i] is null)
            {
                throw new ArgumentNullException(nameof(parameters), $"parameters[{i}] is null");
            }
        }

        // Before any parameter changes: a hyperparameter that is fine as a double but not once rounded to T.
        T alpha = Validate<T>();
        long t = ++StepCount;
        int slots = StateNames.Count;
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            Update(p, slots == 0 ? [] : GetOrCreateState(p, slots), alpha, t);
            p.Value.MarkWritten(); // the update is over: a copy of W taken while it ran (a packed Wᵀ for inference) is stale
        }
    }

    /// <summary>Drops all per-parameter state and sets t back to 0; α is kept.</summary>
    public void Reset()
    {
        _state.Clear();
        StepCount = 0;
    }

    /// <summary>
    /// Called by Fit: makes this optimizer the one of <paramref name="parameters"/> (a model's list). When its state — t
    /// from Fit on another model, or v/s for a parameter not in the list — belongs to other parameters, it is dropped
    /// first (<see cref="Reset"/>), so the model trains exactly as with a new optimizer. The same list again keeps it all.
    /// </summary>
    internal void Bind<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool foreign = StepCount > 0 && _boundTo is not null && !(_boundTo.TryGetTarget(out var owner) && ReferenceEquals(owner, parameters));
        if (!foreign && _state.Count > 0)
        {
            var mine = new HashSet<object>(parameters, ReferenceEqualityComparer.Instance);
            foreign = _state.Keys.Any(key => !mine.Contains(key));
        }

        if (foreign)
        {
            Reset();
        }

        // Weak: the optimizer (often held by reusable options) must not keep an old model's weights alive.
        _boundTo = new WeakReference<object>(parameters);
    }

    /// <summary>Whether state (v, s) exists for <paramref name="parameter"/>, i.e. it has been updated since the last reset.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="parameter">The parameter.</param>
    public bool HasState<T>(Parameter<T> parameter)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return _state.ContainsKey(parameter);
    }

    /// <summary>
    /// A snapshot of the optimizer's state for a checkpoint: "&lt;parameter name&gt;.&lt;state name&gt;"
    /// (e.g. "0.weight.v", "0.weight.s") for every listed parameter that has state, each a copy with the
    /// parameter's shape, plus "t", a one-element tensor holding <see cref="StepCount"/>
    /// (exact in float up to 2²⁴ steps).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="parameters">The parameters whose state to export; their names must be distinct.</param>
    /// <returns>A new dictionary of copies; later steps do not change it.</returns>
    /// <exception cref="ArgumentException">Two parameters share a name.</exception>
    public IReadOnlyDictionary<string, Tensor<T>> ExportState<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        RequireDistinctNames(parameters);
        var result = new Dictionary<string, Tensor<T>>(StringComparer.Ordinal)
        {
            ["t"] = Tensor.FromArray([T.CreateChecked(StepCount)]),
        };
        var names = StateNames;
        foreach (var p in parameters)
        {
            if (_state.TryGetValue(p, out var boxed))
            {
                var slots = (Tensor<T>[])boxed;
                for (int k = 0; k < names.Count; k++)
                {
                    result[$"{p.Name}.{names[k]}"] = slots[k].Clone();
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Restores state written by <see cref="ExportState{T}(IReadOnlyList{Parameter{T}})"/>: sets
    /// <see cref="StepCount"/> from "t" and, for each listed parameter, copies its state tensors in
    /// (a parameter with no entries gets its state dropped, as if never updated).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="parameters">The parameters the state belongs to, matched by name.</param>
    /// <param name="state">The exported state.</param>
    /// <exception cref="ArgumentException">
    /// "t" is missing or not an integer in [0, 2⁵³], a key names no listed parameter or state,
    /// a parameter has only some of its state tensors, a shape differs from the parameter's, or a state tensor holds
    /// NaN or ±∞, or a negative entry where the state must be ≥ 0 (RMSprop's and Adam's s); the message names the key,
    /// the index and the value.
    /// </exception>
    public void ImportState<T>(IReadOnlyList<Parameter<T>> parameters, IReadOnlyDictionary<string, Tensor<T>> state)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (restored, t) = CheckState(parameters, state);

        // Validated in full before anything changes, so a bad checkpoint leaves the optimizer as it was.
        foreach (var (p, slots) in restored)
        {
            if (slots.Length == 0)
            {
                _state.Remove(p);
            }
            else
            {
                _state[p] = slots;
            }
        }

        StepCount = t;
    }

    /// <summary>Checks state for <see cref="ImportState{T}"/> without changing anything (a resume checks it before it changes the model).</summary>
    /// <exception cref="ArgumentException">As <see cref="ImportState{T}"/>.</exception>
    internal void CheckImportable<T>(IReadOnlyList<Parameter<T>> parameters, IReadOnlyDictionary<string, Tensor<T>> state)
        where T : unmanaged, IFloatingPointIeee754<T> => _ = CheckState(parameters, state);

    // Everything ImportState checks; returns each parameter's copied slots (none: drop its state) and t.
    private (List<(Parameter<T> Parameter, Tensor<T>[] Slots)> Restored, long Step) CheckState<T>(IReadOnlyList<Parameter<T>> parameters, IReadOnlyDictionary<string, Tensor<T>> state)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(state);
        RequireDistinctNames(parameters);
        if (!state.TryGetValue("t", out var tTensor) || tTensor.Length != 1)
        {
            throw new ArgumentException("optimizer state must hold \"t\", a one-element tensor with the step count", nameof(state));
        }

        double tValue = double.CreateChecked(tTensor.ReadOnlySpan[0]);
        if (!(tValue >= 0) || tValue != Math.Floor(tValue) || tValue > MaxStepCount)
        {
            throw new ArgumentException($"optimizer state \"t\" must be a non-negative integer ≤ 2^53; received {Format(tValue)}", nameof(state));
        }

        var names = StateNames;
        var used = 1;
        var restored = new List<(Parameter<T> Parameter, Tensor<T>[] Slots)>();
        foreach (var p in parameters)
        {
            var found = new Tensor<T>?[names.Count];
            int count = 0;
            for (int k = 0; k < names.Count; k++)
            {
                string key = $"{p.Name}.{names[k]}";
                if (state.TryGetValue(key, out var tensor))
                {
                    if (!tensor.SameShape(p.Value))
                    {
                        throw new ArgumentException($"optimizer state \"{key}\" has shape {tensor.ShapeText} but parameter \"{p.Name}\" has shape {p.Value.ShapeText}", nameof(state));
                    }

                    // NaN state would make the first step's weights NaN, reported as a diverged run rather than as bad state.
                    if (StateValueProblem(names[k], tensor.ReadOnlySpan) is { } problem)
                    {
                        throw new ArgumentException($"optimizer state \"{key}\" {problem}", nameof(state));
                    }

                    found[k] = tensor;
                    count++;
                }
            }

            if (count != 0 && count != names.Count)
            {
                throw new ArgumentException($"optimizer state for parameter \"{p.Name}\" is incomplete: {GetType().Name} needs {string.Join(", ", names.Select(n => $"\"{p.Name}.{n}\""))}", nameof(state));
            }

            used += count;
            restored.Add((p, count == 0 ? [] : found.Select(t => t!.Clone()).ToArray()));
        }

        if (used != state.Count)
        {
            var known = new HashSet<string>(StringComparer.Ordinal) { "t" };
            foreach (var p in parameters)
            {
                foreach (var n in names)
                {
                    known.Add($"{p.Name}.{n}");
                }
            }

            string unknown = state.Keys.First(k => !known.Contains(k));
            throw new ArgumentException($"optimizer state \"{unknown}\" matches no listed parameter and state name of {GetType().Name}", nameof(state));
        }

        return (restored, (long)tValue);
    }

    /// <summary>
    /// Why the values of state tensor <paramref name="stateName"/> (one of <see cref="StateNames"/>) cannot be imported —
    /// "holds NaN at index 3; optimizer state must be finite", or for a state that must be ≥ 0 (see
    /// <see cref="NonNegativeStateMeaning"/>) "holds -0.5 at index 2; s, an average of squared gradients, must be ≥ 0" —
    /// or null when they can. A name that is not a state name of this optimizer gets only the finiteness check.
    /// </summary>
    internal string? StateValueProblem<T>(string stateName, ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int bad = FiniteCheck.FirstNonFinite(values);
        if (bad >= 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"holds {values[bad]} at index {bad}; optimizer state must be finite");
        }

        int index = -1;
        var names = StateNames;
        for (int k = 0; k < names.Count; k++)
        {
            if (names[k] == stateName)
            {
                index = k;
                break;
            }
        }

        if (index < 0 || NonNegativeStateMeaning(index) is not { } meaning)
        {
            return null;
        }

        for (int k = 0; k < values.Length; k++)
        {
            if (values[k] < T.Zero)
            {
                return string.Create(CultureInfo.InvariantCulture, $"holds {values[k]} at index {k}; {stateName}, {meaning}, must be ≥ 0");
            }
        }

        return null;
    }

    /// <summary>
    /// Checks that every hyperparameter keeps its meaning once rounded to <typeparamref name="T"/> (α finite and not 0;
    /// see <see cref="ValidateHyperparameters{T}"/> for the others) and returns α in <typeparamref name="T"/>.
    /// <see cref="Trainer.Fit{T}"/> calls it before training, <see cref="Step{T}(IReadOnlyList{Parameter{T}})"/> before every step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter overflows or rounds to a value that breaks the rule in <typeparamref name="T"/>.</exception>
    internal T Validate<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T alpha = T.CreateChecked(_learningRate);
        if (!T.IsFinite(alpha) || alpha == T.Zero)
        {
            throw LearningRateOutOfRange<T>(_learningRate);
        }

        ValidateHyperparameters<T>();
        return alpha;
    }

    /// <summary>
    /// The error for a learning rate that is valid as a double but not as <typeparamref name="T"/>: it overflows to ∞
    /// (1e39 for float) or rounds to 0, so a step would write ∞/NaN weights or do nothing.
    /// </summary>
    internal static ArgumentOutOfRangeException LearningRateOutOfRange<T>(double learningRate)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        new("learningRate", learningRate, T.IsFinite(T.CreateChecked(learningRate))
            ? $"learningRate {Format(learningRate)} rounds to 0 in {typeof(T).Name}; use a learning rate a {typeof(T).Name} can hold"
            : $"learningRate {Format(learningRate)} overflows {typeof(T).Name} (largest finite value {(typeof(T) == typeof(float) ? float.MaxValue.ToString(CultureInfo.InvariantCulture) : double.MaxValue.ToString(CultureInfo.InvariantCulture)).Replace("E", "e", StringComparison.Ordinal)}); use a much smaller learning rate");

    /// <summary>
    /// Describes the first state entry of the listed parameters that a checkpoint could not hold — NaN or ±∞ in any
    /// state tensor, or a negative entry where the state must be ≥ 0 — as "optimizer state '0.weight.s' holds ∞ at
    /// index 3; …", or returns null when all are valid. Adam's s = β2·s + (1 − β2)·g² overflows to ∞ in float for a
    /// finite gradient beyond about 1.8e19 while the weights stay finite (the step divides by √s), so the weights alone
    /// do not show it.
    /// </summary>
    internal string? FindInvalidState<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var names = StateNames;
        foreach (var p in parameters)
        {
            if (!_state.TryGetValue(p, out var boxed))
            {
                continue;
            }

            var slots = (Tensor<T>[])boxed;
            for (int k = 0; k < slots.Length && k < names.Count; k++)
            {
                if (StateValueProblem(names[k], slots[k].ReadOnlySpan) is { } problem)
                {
                    return $"optimizer state '{p.Name}.{names[k]}' {problem}";
                }
            }
        }

        return null;
    }

    /// <summary>Copies t and every listed parameter's state into <paramref name="snapshot"/>, reusing its tensors (no allocation once shapes match).</summary>
    internal void CaptureInto<T>(IReadOnlyList<Parameter<T>> parameters, OptimizerSnapshot<T> snapshot)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        snapshot.StepCount = StepCount;
        if (snapshot.Slots.Length != parameters.Count)
        {
            snapshot.Slots = new Tensor<T>[]?[parameters.Count];
        }

        for (int i = 0; i < parameters.Count; i++)
        {
            if (!_state.TryGetValue(parameters[i], out var boxed))
            {
                snapshot.Slots[i] = null;
                continue;
            }

            var source = (Tensor<T>[])boxed;
            var copy = snapshot.Slots[i];
            if (copy is null || copy.Length != source.Length)
            {
                snapshot.Slots[i] = source.Select(t => t.Clone()).ToArray();
                continue;
            }

            for (int k = 0; k < source.Length; k++)
            {
                source[k].CopyTo(copy[k]);
            }
        }
    }

    /// <summary>Puts back the state captured by <see cref="CaptureInto{T}"/> for the same parameters.</summary>
    internal void RestoreFrom<T>(IReadOnlyList<Parameter<T>> parameters, OptimizerSnapshot<T> snapshot)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        StepCount = snapshot.StepCount;
        for (int i = 0; i < parameters.Count; i++)
        {
            var copy = i < snapshot.Slots.Length ? snapshot.Slots[i] : null;
            if (copy is null)
            {
                _state.Remove(parameters[i]);
            }
            else if (_state.TryGetValue(parameters[i], out var boxed) && ((Tensor<T>[])boxed).Length == copy.Length)
            {
                var live = (Tensor<T>[])boxed;
                for (int k = 0; k < copy.Length; k++)
                {
                    copy[k].CopyTo(live[k]);
                }
            }
            else
            {
                _state[parameters[i]] = copy.Select(t => t.Clone()).ToArray();
            }
        }
    }

    /// <summary>The optimizer and its hyperparameters, e.g. "Adam(α=0.001, β1=0.9, β2=0.999, ε=1e-08)".</summary>
    public abstract string Describe();

    /// <summary>
    /// <see cref="Describe"/> without α, e.g. "Adam(β1=0.9, β2=0.999, ε=1e-08)": the settings a training checkpoint
    /// records and a resume must share (α and α0 are the checkpoint's). The built-in optimizers give it directly; for
    /// another kind it is <see cref="Describe"/> with α set to 1 for the call and then taken out, so an optimizer whose
    /// description holds its settings is compared by all of them but α.
    /// </summary>
    internal string DescribeSettings()
    {
        if (SettingsWithoutRate is { } settings)
        {
            return settings;
        }

        double rate = _learningRate;
        _learningRate = 1;
        try
        {
            return Describe().Replace("(α=1, ", "(", StringComparison.Ordinal).Replace("(α=1)", "()", StringComparison.Ordinal);
        }
        finally
        {
            _learningRate = rate;
        }
    }

    /// <summary>A built-in optimizer's <see cref="Describe"/> without α; null for other kinds.</summary>
    private protected string? SettingsWithoutRate => SettingsList is { } list ? $"{GetType().Name}({list})" : null;

    /// <summary>A built-in optimizer's settings but α, e.g. "β1=0.9, β2=0.999, ε=1e-08" ("" for none); null for other kinds.</summary>
    private protected virtual string? SettingsList => null;

    /// <summary>A built-in optimizer's <see cref="Describe"/>: its kind, α, then <see cref="SettingsList"/>.</summary>
    private protected string DescribeWithRate(string settings) =>
        $"{GetType().Name}(α={Format(LearningRate)}{(settings.Length == 0 ? string.Empty : ", " + settings)})";

    /// <inheritdoc/>
    public override string ToString() => Describe();

    /// <summary>
    /// The update rule for one parameter: W ← rule(W, dW, state, t).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="parameter">The parameter: <see cref="Parameter{T}.Value"/> is W, <see cref="Parameter{T}.Gradient"/> is dW.</param>
    /// <param name="state">The state tensors in <see cref="StateNames"/> order, each W's shape; empty when there are none.</param>
    /// <param name="learningRate">α in <typeparamref name="T"/>.</param>
    /// <param name="t">The step number, 1 on the first step.</param>
    protected abstract void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>Formats a hyperparameter the same way in every message and description: invariant culture, shortest round-trip, "1e-08".</summary>
    /// <param name="value">The value.</param>
    /// <returns>The text.</returns>
    protected static string Format(double value) =>
        value.ToString("G", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    /// <summary>
    /// Checks the hyperparameters other than α in the element type the parameters have, before a step changes anything:
    /// a value valid as a double can round to one that breaks the rule in <typeparamref name="T"/> (β = 0.99999999 is 1
    /// in float; ε = 1e-50 is 0). Use <see cref="BetaIn{T}"/> and <see cref="EpsilonIn{T}"/>. The default checks nothing.
    /// </summary>
    /// <typeparam name="T">The parameters' element type.</typeparam>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range in <typeparamref name="T"/>.</exception>
    protected virtual void ValidateHyperparameters<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
    }

    /// <summary>
    /// β rounded to <typeparamref name="T"/>; throws when it rounds to 1 (then 1 − β = 0: momentum ignores every new
    /// gradient, and bias correction 1/(1 − βᵗ) divides by 0).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="value">β, already checked to be in [0, 1) as a double.</param>
    /// <param name="name">The argument's name, echoed in the message.</param>
    /// <returns>β in <typeparamref name="T"/>, below 1.</returns>
    /// <exception cref="ArgumentOutOfRangeException">β rounds to 1 in <typeparamref name="T"/>.</exception>
    protected static T BetaIn<T>(double value, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T beta = T.CreateChecked(value);
        if (!(beta >= T.Zero && beta < T.One))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} {Format(value)} rounds to {FormatIn(beta)} in {typeof(T).Name}, so 1 − {name} is 0; {name} must stay below 1 in the model's element type (at most {FormatIn(T.BitDecrement(T.One))} in {typeof(T).Name})");
        }

        return beta;
    }

    /// <summary>ε rounded to <typeparamref name="T"/>; throws when it rounds to 0 or overflows to ∞.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="value">ε, already checked to be positive and finite as a double.</param>
    /// <param name="name">The argument's name, echoed in the message.</param>
    /// <returns>ε in <typeparamref name="T"/>, positive and finite.</returns>
    /// <exception cref="ArgumentOutOfRangeException">ε rounds to 0 or overflows in <typeparamref name="T"/>.</exception>
    protected static T EpsilonIn<T>(double value, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T epsilon = T.CreateChecked(value);
        if (!(epsilon > T.Zero) || !T.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(name, value, epsilon == T.Zero
                ? $"{name} {Format(value)} rounds to 0 in {typeof(T).Name}, so it no longer keeps the division finite; use an {name} a {typeof(T).Name} can hold (at least {FormatIn(T.Epsilon)})"
                : $"{name} {Format(value)} overflows {typeof(T).Name}; use a much smaller {name}");
        }

        return epsilon;
    }

    /// <summary>Formats a value of the element type as <see cref="Format"/> does a double: "0.99999994" for the float below 1.</summary>
    private static string FormatIn<T>(T value)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        value.ToString("G", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    /// <summary>Throws unless β is in [0, 1).</summary>
    /// <param name="value">β.</param>
    /// <param name="name">The argument's name, echoed in the message.</param>
    /// <returns><paramref name="value"/>.</returns>
    protected static double RequireBeta(double value, string name)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1); received {Format(value)}");
        }

        return value;
    }

    /// <summary>Throws unless ε is positive and finite.</summary>
    /// <param name="value">ε.</param>
    /// <param name="name">The argument's name, echoed in the message.</param>
    /// <returns><paramref name="value"/>.</returns>
    protected static double RequireEpsilon(double value, string name)
    {
        if (!(value > 0) || !double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive and finite; received {Format(value)}");
        }

        return value;
    }

    private static void RequireDistinctNames<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in parameters)
        {
            ArgumentNullException.ThrowIfNull(p, nameof(parameters));
            if (!seen.Add(p.Name))
            {
                throw new ArgumentException($"two parameters are named \"{p.Name}\"; optimizer state is keyed by name in a checkpoint", nameof(parameters));
            }
        }
    }

    private Tensor<T>[] GetOrCreateState<T>(Parameter<T> parameter, int slots)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (_state.TryGetValue(parameter, out var boxed))
        {
            return (Tensor<T>[])boxed;
        }

        var created = new Tensor<T>[slots];
        for (int k = 0; k < slots; k++)
        {
            created[k] = new Tensor<T>(parameter.Value.Shape);
        }

        _state[parameter] = created;
        return created;
    }
}

/// <summary>A copy of an optimizer's t and per-parameter state, for the divergence guard (see <see cref="Optimizer"/>).</summary>
/// <typeparam name="T">The element type.</typeparam>
internal sealed class OptimizerSnapshot<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>t when captured.</summary>
    public long StepCount { get; set; }

    /// <summary>Per parameter (in list order), copies of its state tensors, or null when it had none.</summary>
    public Tensor<T>[]?[] Slots { get; set; } = [];
}
