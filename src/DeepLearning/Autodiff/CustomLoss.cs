using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace DeepLearning;

/// <summary>
/// A cost J(Ŷ, Y) written with a <see cref="Tape{T}"/>, whose gradient ∂J/∂Ŷ the tape derives — for costs the built-in
/// losses do not cover (focal loss, hinge loss, label smoothing, …). Give it to the builder with
/// <c>.Loss(CustomLoss.FromTape&lt;float&gt;("focal", (yhat, y) =&gt; ...))</c>; the model then trains through <c>Fit</c> with
/// mini-batches, callbacks, regularization and early stopping, and the <see cref="GradientChecker"/> checks it.
/// </summary>
/// <remarks>
/// <para>The cost receives the model's output Ŷ (m, C) — the last layer's output as is, so with a custom loss the model
/// ends in whatever layer you choose (e.g. a linear Dense whose output are logits, turned into log-probabilities
/// with <see cref="Variable{T}.LogSoftmax"/>) — and the targets Y (m, C), and returns the data term of J as a
/// one-element variable, normally a mean over the m rows: J = (1/m)·Σᵢ L(ŷ⁽ⁱ⁾, y⁽ⁱ⁾). The regularization term is added
/// by the model. The backward pass then receives ∂J/∂Ŷ, which carries the 1/m, as <see cref="ILayer{T}"/> expects.</para>
/// <para>Training and evaluation treat a model with a custom loss as a classifier (accuracy is argmax agreement of Ŷ
/// and Y, or ŷ &gt; 0.5 for one output, or per cell for a sigmoid output with several columns, as
/// <see cref="Model{T}.IsMultiLabel"/> describes) unless it is created with <c>classification: false</c>, which makes it a
/// regression loss (evaluated with MSE, RMSE, MAE and R²). Each thread gets its own tape, so evaluation may run on several threads. A
/// model with a custom loss can be saved, and loads with <c>Model.Load&lt;T&gt;(path, loss)</c> given the same loss again
/// (the file holds only its <see cref="Loss.Name"/>, so keep names distinct); check a custom loss's gradient on a
/// double model (the checker converts a float model, which a loss written for float alone cannot follow).</para>
/// </remarks>
public abstract class CustomLoss : Loss
{
    private readonly ConcurrentDictionary<Type, object> _tapes = new();

    /// <summary>Initializes the loss with its name.</summary>
    /// <param name="name">A name for summaries and histories, e.g. "Focal(γ=2)".</param>
    /// <param name="classification">Whether the model is a classifier (accuracy, confusion matrix; the default) or a regression.</param>
    protected CustomLoss(string name, bool classification = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        IsClassification = classification;
    }

    /// <inheritdoc/>
    public override bool IsClassification { get; }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <summary>A custom loss from a function written with variables, for one element type.</summary>
    /// <typeparam name="T">The model's element type.</typeparam>
    /// <param name="name">The loss's name.</param>
    /// <param name="cost">J(Ŷ, Y): the output Ŷ (m, C) and targets Y (m, C) in, a one-element cost out.</param>
    /// <param name="classification">Whether the model is a classifier (the default) or a regression.</param>
    public static CustomLoss FromTape<T>(string name, Func<Variable<T>, Variable<T>, Variable<T>> cost, bool classification = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cost);
        return new LambdaLoss<T>(name, cost, classification);
    }

    /// <inheritdoc/>
    public override double Cost<T>(Tensor<T> z, Tensor<T> y)
    {
        Check(z, y);
        var tape = TapeFor<T>();
        tape.Reset();
        var j = Run(tape, tape.Constant(z), tape.Constant(y));
        double cost = double.CreateTruncating(j.Item);
        tape.Reset();
        return cost;
    }

    /// <summary>∂J/∂Ŷ, derived by the tape from the cost, written into <paramref name="dz"/> (m, C).</summary>
    public override void OutputGradient<T>(Tensor<T> yhat, Tensor<T> y, Tensor<T> dz)
    {
        Check(yhat, y);
        ArgumentNullException.ThrowIfNull(dz);
        Tensor<T>.RequireSameShape(yhat, dz, nameof(dz));
        var tape = TapeFor<T>();
        tape.Reset();
        var output = tape.Constant(yhat, requiresGrad: true);
        var j = Run(tape, output, tape.Constant(y));
        if (j.RequiresGrad)
        {
            j.Backward();
        }

        if (output.Grad is { } g)
        {
            g.CopyTo(dz);
        }
        else
        {
            dz.Clear();
        }

        tape.Reset();
    }

    /// <summary>Records J(Ŷ, Y) on the tape of <paramref name="output"/> and returns it (one element).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="output">Ŷ (m, C), the model's output.</param>
    /// <param name="targets">Y (m, C).</param>
    protected abstract Variable<T> Compute<T>(Variable<T> output, Variable<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>;

    private Variable<T> Run<T>(Tape<T> tape, Variable<T> output, Variable<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var j = Compute(output, targets);
        if (!ReferenceEquals(j.Tape, tape))
        {
            throw new InvalidOperationException($"custom loss '{Name}' must build its cost from the variables it receives (it returned a variable of another tape)");
        }

        if (j.Value.Length != 1)
        {
            throw new InvalidOperationException($"custom loss '{Name}' must return a one-element cost J (reduce with Mean() or Sum()); it returned shape {j.Value.ShapeText}");
        }

        return j;
    }

    private Tape<T> TapeFor<T>()
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ((ThreadLocal<Tape<T>>)_tapes.GetOrAdd(typeof(T), static _ => new ThreadLocal<Tape<T>>(static () => new Tape<T>()))).Value!;

    private sealed class LambdaLoss<TLoss>(string name, Func<Variable<TLoss>, Variable<TLoss>, Variable<TLoss>> cost, bool classification) : CustomLoss(name, classification)
        where TLoss : unmanaged, IFloatingPointIeee754<TLoss>
    {
        protected override Variable<T> Compute<T>(Variable<T> output, Variable<T> targets)
        {
            if (typeof(T) != typeof(TLoss))
            {
                throw new NotSupportedException($"custom loss '{Name}' was written for {typeof(TLoss).Name} but the model uses {typeof(T).Name}; build the model with {typeof(TLoss).Name}, or derive from CustomLoss to support both");
            }

            // Same type at run time: reinterpret the handles instead of boxing them.
            var j = cost(Unsafe.As<Variable<T>, Variable<TLoss>>(ref output), Unsafe.As<Variable<T>, Variable<TLoss>>(ref targets));
            return Unsafe.As<Variable<TLoss>, Variable<T>>(ref j);
        }
    }
}
