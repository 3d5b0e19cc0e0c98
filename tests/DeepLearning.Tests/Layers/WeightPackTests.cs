using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Layers;

/// <summary>
/// A large W's packed Wᵀ, kept current by the optimizer while Fit trains: the same bits as packing W in every forward
/// pass, and never used once W has been written any other way.
/// </summary>
public class WeightPackTests
{
    public static TheoryData<string, int> Optimizers => new()
    {
        { "adam", 1 }, { "adam", 2 }, { "momentum", 1 }, { "momentum", 2 }, { "rmsprop", 2 }, { "gd", 1 }, { "gd", 2 },
    };

    private static Optimizer Make(string name) => name switch
    {
        "adam" => new Adam(0.001),
        "momentum" => new Momentum(0.05, 0.9),
        "rmsprop" => new RmsProp(0.001),
        _ => new GradientDescent(0.05),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void Fit_with_the_pack_gives_the_same_weights_bit_for_bit_as_packing_in_every_forward_pass(string optimizer, int threads)
    {
        Same<float>(optimizer, threads);
        Same<double>(optimizer, threads);
    }

    private static void Same<T>(string optimizer, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // 300 rows of 290 features into 230 units: W₁ has 66,700 elements (a pack), 230 rows is 3 full panels of 64
        // and a partial one (or 7 of 32 and a partial one), batches of 64 and a last one of 44.
        var random = new RandomSource(5);
        var x = Tensor.RandomUniform<T>(random, [300, 290]);
        var labels = Enumerable.Range(0, 300).Select(i => i % 7).ToArray();
        var data = DataSet.FromLabels(x, labels, 7);
        var packed = Net<T>();
        var plain = Net<T>();
        foreach (var p in plain.Parameters)
        {
            p.Pack = null;
        }

        var pack = packed.Parameters[0].Pack;
        pack.Should().NotBeNull("W₁ is large enough to keep a pack");
        Gemm.ThreadsOverride = threads;
        try
        {
            var options = () => new TrainingOptions<T> { Optimizer = Make(optimizer), Epochs = 2, BatchSize = 64, Regularization = Regularization.L2(0.01) };
            packed.Fit(data, options());
            plain.Fit(data, options());
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        pack!.Uses.Should().BeGreaterThan(0, "the forward passes after the first step use the optimizer's pack");
        pack.Armed.Should().BeFalse("the pack is only armed while Fit runs");
        for (int i = 0; i < packed.Parameters.Count; i++)
        {
            packed.Parameters[i].Value.ReadOnlySpan.ToArray().Should().Equal(plain.Parameters[i].Value.ReadOnlySpan.ToArray(), $"{packed.Parameters[i].Name}, {typeof(T).Name}, {optimizer}, {threads} thread(s)");
        }
    }

    private static Model<T> Net<T>()
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Model.Sequential<T>(290).Dense(230).ReLU().Dense(7).Softmax().Build(seed: 3);

    [Fact]
    public void Any_other_write_to_W_retires_the_pack()
    {
        var writes = new (string Name, Action<Tensor<float>> Write)[]
        {
            ("Span", w => w.Span[5] = 1),
            ("indexer", w => w[3, 4] = 2),
            ("Row", w => w.Row(7)[0] = 3),
            ("Fill", w => w.Fill(0.5f)),
            ("Clear", w => w.Clear()),
            ("CopyTo", w => w.Clone().CopyTo(w)),
            ("a Rows view", w => w.Rows(10, 2).Span[0] = 4),
            ("a Reshape view", w => w.Reshape(-1)[100] = 5),
        };

        foreach (var (name, write) in writes)
        {
            var model = Net<float>();
            var w = model.Parameters[0];
            var pack = w.Pack!;
            pack.Armed = true;
            pack.Begin();
            pack.End();
            pack.Current.Should().NotBeNull();
            _ = w.Value.ReadOnlySpan[0];
            _ = w.Value[1, 1];
            pack.Current.Should().NotBeNull("reading W leaves the pack current");

            write(w.Value);
            pack.Current.Should().BeNull($"a write through {name} retires the pack");

            // The forward pass packs the new W itself: the same output as a layer that never had a pack.
            var x = Tensor.RandomUniform<float>(new RandomSource(2), [9, 290]);
            var fresh = Net<float>();
            w.Value.CopyTo(fresh.Parameters[0].Value);
            foreach (var p in fresh.Parameters)
            {
                p.Pack = null;
            }

            model.Forward(x, training: true).ReadOnlySpan.ToArray().Should().Equal(fresh.Forward(x, training: true).ReadOnlySpan.ToArray(), name);
        }
    }

    [Fact]
    public void A_pack_is_never_used_outside_Fit_and_small_layers_have_none()
    {
        var model = Net<float>();
        var pack = model.Parameters[0].Pack!;
        pack.Begin();
        pack.End();
        pack.Current.Should().BeNull("not armed: Trainer.Step and ComputeGradients outside Fit pack W themselves");
        model.Parameters[2].Pack.Should().BeNull("W₂ has 1,610 elements: packing it in the forward pass is cheap");
    }
}
