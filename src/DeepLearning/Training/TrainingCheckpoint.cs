using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeepLearning;

/// <summary>
/// Writes and reads the training checkpoints behind <see cref="TrainingOptions{T}.Checkpoint"/> and
/// <see cref="TrainingOptions{T}.ResumeFrom"/>: a model file (<see cref="ModelFile"/>: architecture, weights, batch-norm
/// statistics; it loads with <see cref="Model.Load{T}(string)"/>) whose extra tensors hold the optimizer's state
/// ("optimizer.&lt;parameter&gt;.&lt;v|s&gt;", "optimizer.t") and whose metadata hold everything else a run needs to
/// continue exactly: the epoch, the optimizer's step count t, α and α0 (the decay schedule's position is the epoch),
/// the history so far, the state of every random source (shuffling, each dropout layer, augmentation, the model's own),
/// and the settings a resume must share (the batch size, the optimizer's hyperparameters but α, the decay schedule,
/// whether examples are shuffled, the weight penalty, and which callbacks' state was saved), which <see cref="Read{T}"/> compares with the options.
/// </summary>
internal static class TrainingCheckpoint
{
    private const string Version = "1";
    private const string OptimizerPrefix = "optimizer.";

    public static void Write<T>(string path, Model<T> model, Optimizer optimizer, double initialLearningRate, int epoch, History history, RandomSource shuffle, IDataSource<T> train, IList<ITrainingCallback> callbacks, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // What Read refuses is never written: optimizer state that is not finite (Adam's s overflows float for a
        // gradient beyond ~1.8e19 while the weights stay finite) would make a file no run can resume from.
        if (optimizer.FindInvalidState(model.Parameters) is { } problem)
        {
            throw new InvalidOperationException($"the checkpoint cannot be saved: {problem}; nothing was written to '{path}'. Train with the divergence guard on (it restores the last finite state), or with a smaller learning rate or normalized inputs");
        }

        // Nor a history Read refuses: a cost that is not finite (recorded only with the divergence guard off).
        if (CostProblem(history, model.Loss) is { } costProblem)
        {
            throw new InvalidOperationException($"the checkpoint cannot be saved: {costProblem}; nothing was written to '{path}'. Train with the divergence guard on (it stops at the first non-finite cost and restores the last finite state)");
        }

        var inv = CultureInfo.InvariantCulture;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["checkpoint"] = Version,
            ["element_type"] = typeof(T).Name,
            ["epoch"] = epoch.ToString(inv),
            ["optimizer"] = optimizer.Describe(),
            ["optimizer_kind"] = optimizer.GetType().Name,
            ["optimizer_step"] = optimizer.StepCount.ToString(inv),
            ["learning_rate"] = optimizer.LearningRate.ToString("R", inv),
            ["initial_learning_rate"] = initialLearningRate.ToString("R", inv),
            ["random.shuffle"] = shuffle.ExportState(),
            ["random.model"] = model.Random.ExportState(),
            ["history_metric"] = history.MetricName,
            ["history"] = HistoryJson(history),
            ["history_iterations"] = Convert.ToBase64String(MemoryMarshal.AsBytes(history.IterationCosts.ToArray().AsSpan())),
            ["batch_size"] = options.BatchSize.ToString(inv),
            ["decay"] = DescribeDecay(options.Decay),
            ["shuffle"] = ShuffleText(options),
            ["validation_split"] = SplitText(options),
            ["validation_split_seed"] = SplitSeedText(model, options),
            ["regularization"] = Penalty(model, options).Name,
            ["class_weights"] = ClassWeightsText(options),
            ["label_smoothing"] = options.LabelSmoothing.ToString("R", CultureInfo.InvariantCulture),
            ["record_iterations"] = options.RecordIterations ? "true" : "false",
            ["gradient_clip_norm"] = ClipText(options.GradientClipNorm),
            ["gradient_clip_value"] = ClipText(options.GradientClipValue),
            ["optimizer_settings"] = optimizer.DescribeSettings(),
            ["callback_states"] = string.Join(",", Enumerable.Range(0, callbacks.Count).Where(i => callbacks[i] is ICheckpointedCallback).Select(i => i.ToString(inv))),
        };
        foreach (var dropout in model.Layers.OfType<Dropout<T>>())
        {
            metadata[$"random.dropout.{dropout.Name}"] = dropout.Random.ExportState();
        }

        var dataSources = DataRandomSources(train);
        for (int i = 0; i < dataSources.Count; i++)
        {
            metadata[$"random.data.{i}"] = dataSources[i].ExportState();
        }

        var tensors = optimizer.ExportState(model.Parameters).ToDictionary(kv => OptimizerPrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
        for (int i = 0; i < callbacks.Count; i++)
        {
            if (callbacks[i] is ICheckpointedCallback stateful)
            {
                var (state, weights) = stateful.ExportCheckpointState();
                metadata[$"callback.{i}.kind"] = callbacks[i].GetType().Name;
                metadata[$"callback.{i}.state"] = state;
                if (weights is ModelState<T> snapshot)
                {
                    for (int k = 0; k < snapshot.Tensors.Count; k++)
                    {
                        tensors[$"callback.{i}.weights.{k}"] = snapshot.Tensors[k];
                    }
                }
            }
        }

        ModelFile.Save(model, path, tensors, metadata);
    }

    /// <summary>
    /// Reads and validates the whole checkpoint against the model and options (settings a checkpoint of an earlier
    /// version did not record are not compared); changes nothing.
    /// </summary>
    public static Resume<T> Read<T>(string path, Model<T> model, Optimizer optimizer, IDataSource<T> train, IList<ITrainingCallback> callbacks, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool hasValidation = options.Validation is not null;
        var file = ModelFile.Read<T>(path);
        var meta = file.Metadata;
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw Bad(path, $"the metadata entry '{key}' is missing");

        if (!meta.TryGetValue("checkpoint", out var version))
        {
            throw Bad(path, "it is a model file without training state; write checkpoints with TrainingOptions.Checkpoint (or the Checkpoint callback)");
        }

        if (version != Version)
        {
            throw Bad(path, $"checkpoint version '{Clip(version)}' is not supported (expected {Version})");
        }

        string elementType = Meta("element_type");
        if (elementType != typeof(T).Name)
        {
            throw Bad(path, $"it holds {Clip(elementType)} training state but the model is Model<{typeof(T).Name}>; resume with the same element type");
        }

        CheckArchitecture(path, Meta("architecture"), model);

        // The checkpoint's output units are its classes: data naming them otherwise would relabel every unit.
        if (meta.TryGetValue("class_names", out var namesJson) && Model<T>.ClassNamesOf(train) is { } trainNames)
        {
            string[] saved;
            try
            {
                saved = JsonNode.Parse(namesJson, documentOptions: new JsonDocumentOptions { MaxDepth = 4 })!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or ArgumentException)
            {
                throw Bad(path, $"the class_names metadata is invalid: {e.Message}");
            }

            if (!saved.SequenceEqual(trainNames, StringComparer.Ordinal))
            {
                throw Bad(path, $"it was trained on classes [{Clip(string.Join(", ", saved))}] but the training data has [{Clip(string.Join(", ", trainNames))}]; resume on data with the same class names in the same order (CsvOptions.ClassNames)");
            }
        }

        // Weights and buffers, in layer order, exactly the model's names and shapes, all finite.
        var known = new HashSet<string>(StringComparer.Ordinal);
        var weights = new List<Tensor<T>>();
        foreach (var layer in model.Layers)
        {
            foreach (var (name, live) in layer.Parameters.Select(p => (p.Name, p.Value)).Concat(layer.Buffers.Select(b => ($"{layer.Name}.{b.Key}", b.Value))))
            {
                if (!file.Tensors.TryGetValue(name, out var saved))
                {
                    throw Bad(path, $"tensor '{name}' is missing");
                }

                if (!saved.SameShape(live))
                {
                    throw Bad(path, $"tensor '{name}' has shape {saved.ShapeText} but the model's is {live.ShapeText}");
                }

                RequireFinite(path, name, saved);
                if (layer is BatchNorm<T> && name == $"{layer.Name}.running_var" && ModelFile.ValueProblem(saved.ReadOnlySpan, variance: true) is { } problem)
                {
                    throw Bad(path, $"tensor '{name}' {problem}");
                }

                weights.Add(saved);
                known.Add(name);
            }
        }

        // The input and target transforms are the model's own (the builder's), not restored: the checkpoint's must be the same.
        CheckTransform(path, "input_transform", model.InputTransform, meta, file.Tensors);
        CheckTransform(path, "target_transform", model.TargetTransform, meta, file.Tensors);

        // Optimizer: same kind, state for these parameters only, all finite.
        string kind = Meta("optimizer_kind");
        if (kind != optimizer.GetType().Name)
        {
            throw Bad(path, $"it holds the state of {Clip(Meta("optimizer"))} but the options use {optimizer.Describe()}; resume with the same optimizer");
        }

        // Its hyperparameters too (β, ε, bias correction), all but α: α and α0 are the checkpoint's, restored below.
        if (meta.TryGetValue("optimizer_settings", out var savedSettings) && savedSettings != optimizer.DescribeSettings())
        {
            throw Bad(path, $"it was trained with {Clip(savedSettings, 200)} but the options use {optimizer.DescribeSettings()} (α aside: α and α0 come from the checkpoint); resume with the same optimizer settings (those the run had when the checkpoint was written, if a callback changed them)");
        }

        var optimizerState = new Dictionary<string, Tensor<T>>(StringComparer.Ordinal);
        foreach (var (name, tensor) in file.Tensors)
        {
            if (name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            {
                RequireFinite(path, name, tensor);
                string key = name[OptimizerPrefix.Length..];

                // The optimizer knows which of its state must be ≥ 0 (RMSprop's and Adam's s): a negative entry makes √s
                // NaN on the first step, which the trainer would report as a diverged run rather than as the corrupt file it is.
                if (optimizer.StateValueProblem(key[(key.LastIndexOf('.') + 1)..], tensor.ReadOnlySpan) is { } problem)
                {
                    throw Bad(path, $"tensor '{name}' {problem}");
                }

                optimizerState[key] = tensor;
            }
            else if (!known.Contains(name) && !name.StartsWith("input_transform.", StringComparison.Ordinal) && !name.StartsWith("target_transform.", StringComparison.Ordinal) && !name.StartsWith("callback.", StringComparison.Ordinal))
            {
                throw Bad(path, $"tensor '{Clip(name)}' belongs to no layer of this model and to no optimizer state");
            }
        }

        try
        {
            optimizer.CheckImportable(model.Parameters, optimizerState);
        }
        catch (ArgumentException e)
        {
            throw OptimizerStateDoesNotFit(path, e);
        }

        long step = ParseLong(path, "optimizer_step", Meta("optimizer_step"), 0, Optimizer.MaxStepCount); // t + 1 must not overflow
        if (optimizerState.TryGetValue("t", out var savedT) && savedT.Length == 1 && savedT.ReadOnlySpan[0] != T.CreateChecked(step))
        {
            // The two are written together (t in the element type, so rounded in float beyond 2²⁴): a file where they differ was edited.
            throw Bad(path, $"its optimizer_step ({step}) and tensor '{OptimizerPrefix}t' ({savedT.ReadOnlySpan[0]}) disagree");
        }
        int epoch = (int)ParseLong(path, "epoch", Meta("epoch"), 0, int.MaxValue);
        double rate = ParseRate<T>(path, "learning_rate", Meta("learning_rate"));
        double initialRate = ParseRate<T>(path, "initial_learning_rate", Meta("initial_learning_rate"));

        // Random states: parsed into fresh sources, copied into the live ones only when everything checked out.
        var randoms = new List<(RandomSource Live, RandomSource Saved)>();
        void Random(string key, RandomSource live)
        {
            var saved = new RandomSource(0UL);
            try
            {
                saved.ImportState(Meta(key));
            }
            catch (ArgumentException e)
            {
                throw Bad(path, $"metadata '{key}': {e.Message}");
            }

            randoms.Add((live, saved));
        }

        Random("random.model", model.Random);
        foreach (var dropout in model.Layers.OfType<Dropout<T>>())
        {
            Random($"random.dropout.{dropout.Name}", dropout.Random);
        }

        var dataSources = DataRandomSources(train);
        int savedSources = meta.Keys.Count(k => k.StartsWith("random.data.", StringComparison.Ordinal));
        if (savedSources != dataSources.Count)
        {
            throw Bad(path, $"it holds {savedSources} random state(s) of the training data (e.g. augmentation) but the training data now has {dataSources.Count}; resume with the same training source");
        }

        for (int i = 0; i < dataSources.Count; i++)
        {
            Random($"random.data.{i}", dataSources[i]);
        }

        var shuffle = new RandomSource(0UL);
        try
        {
            shuffle.ImportState(Meta("random.shuffle"));
        }
        catch (ArgumentException e)
        {
            throw Bad(path, $"metadata 'random.shuffle': {e.Message}");
        }

        var history = ReadHistory(path, model.IsClassifier, model.Loss, Meta("history_metric"), Meta("history"), Meta("history_iterations"));
        if (history.Count != epoch)
        {
            throw Bad(path, $"its history holds {history.Count} epochs but it was written after epoch {epoch}");
        }

        // Callbacks with state (early stopping's best epoch and weights): each saved state belongs to the callback at the
        // same position, and (in a checkpoint that lists them) each stateful callback has its saved state. A state nothing
        // takes (the callback left out, or moved) or a stateful callback without one (added) is another setup.
        var savedStates = SavedCallbackStates(path, meta);
        for (int i = 0; i < callbacks.Count; i++)
        {
            bool stateful = callbacks[i] is ICheckpointedCallback;
            if (savedStates.TryGetValue(i, out var savedKind) && !stateful)
            {
                throw Bad(path, $"it holds the state of the {Clip(savedKind)} at Callbacks[{i}], but this run lists a {callbacks[i].GetType().Name} there, which keeps none; list the same stateful callbacks at the same positions");
            }

            if (stateful && !savedStates.ContainsKey(i) && meta.ContainsKey("callback_states"))
            {
                throw Bad(path, $"Callbacks[{i}] is a {callbacks[i].GetType().Name}, but the run it continues had none there (it holds no state for it); list the same stateful callbacks at the same positions");
            }
        }

        foreach (int i in savedStates.Keys.Order())
        {
            if (i >= callbacks.Count)
            {
                throw Bad(path, $"it holds the state of the {Clip(savedStates[i])} at Callbacks[{i}], but this run lists {callbacks.Count} callback(s); list the same stateful callbacks at the same positions");
            }
        }

        var callbackImports = new List<Action>();
        var callbackTensors = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < callbacks.Count; i++)
        {
            if (callbacks[i] is not ICheckpointedCallback stateful || !savedStates.TryGetValue(i, out var savedKind))
            {
                continue;
            }

            if (savedKind != callbacks[i].GetType().Name)
            {
                throw Bad(path, $"callback {i} was a {Clip(savedKind)} but is now a {callbacks[i].GetType().Name}; resume with the same callbacks");
            }

            ModelState<T>? snapshot = null;
            if (file.Tensors.ContainsKey($"callback.{i}.weights.0"))
            {
                var copies = new List<Tensor<T>>();
                for (int k = 0; k < weights.Count; k++)
                {
                    string name = $"callback.{i}.weights.{k}";
                    if (!file.Tensors.TryGetValue(name, out var tensor) || !tensor.SameShape(weights[k]))
                    {
                        throw Bad(path, $"tensor '{name}' is missing or not shaped like the model's tensor {k}");
                    }

                    RequireFinite(path, name, tensor);
                    copies.Add(tensor);
                    callbackTensors.Add(name);
                }

                snapshot = new ModelState<T>(copies);
            }

            try
            {
                callbackImports.Add(stateful.PrepareImport(Meta($"callback.{i}.state"), snapshot, epoch, hasValidation, history));
            }
            catch (FormatException e)
            {
                throw Bad(path, $"callback {i}: {e.Message}");
            }
        }

        // Every callback tensor belongs to a saved callback state read above; any other means an edited file.
        if (file.Tensors.Keys.FirstOrDefault(n => n.StartsWith("callback.", StringComparison.Ordinal) && !callbackTensors.Contains(n)) is { } stray)
        {
            throw Bad(path, $"tensor '{Clip(stray)}' belongs to no saved callback state");
        }

        // The rest of the setup the run trained with (recorded since this check exists; absent from older checkpoints).
        if (meta.TryGetValue("batch_size", out var savedBatch) && ParseLong(path, "batch_size", savedBatch, 0, int.MaxValue) != options.BatchSize)
        {
            throw Bad(path, string.Create(CultureInfo.InvariantCulture, $"it was trained with BatchSize = {savedBatch} but the options have BatchSize = {options.BatchSize}; resume with the same BatchSize (the one the run had when the checkpoint was written, if a callback changed it)"));
        }

        if (meta.TryGetValue("decay", out var savedDecay) && savedDecay != DescribeDecay(options.Decay))
        {
            throw Bad(path, $"it was trained with {DecayText(Clip(savedDecay, 200))} but the options have {DecayText(DescribeDecay(options.Decay))}; resume with the same Decay (the one the run had when the checkpoint was written, if a callback changed it)");
        }

        if (meta.TryGetValue("shuffle", out var savedShuffle) && savedShuffle != ShuffleText(options))
        {
            throw Bad(path, $"it was trained with Shuffle = {Clip(savedShuffle)} but the options have Shuffle = {ShuffleText(options)}; resume with the same Shuffle");
        }

        if (meta.TryGetValue("validation_split", out var savedSplit) && savedSplit != SplitText(options))
        {
            throw Bad(path, $"it was trained with ValidationSplit = {Clip(savedSplit)} but the options have ValidationSplit = {SplitText(options)}, which trains on other rows; resume with the same ValidationSplit");
        }

        string splitSeed = SplitSeedText(model, options);
        if (meta.TryGetValue("validation_split_seed", out var savedSplitSeed) && savedSplitSeed != splitSeed && savedSplitSeed.Length > 0 && splitSeed.Length > 0)
        {
            throw Bad(path, $"it held out its dev rows (ValidationSplit) with seed {Clip(savedSplitSeed)} but this run would draw them with seed {splitSeed} (TrainingOptions.Seed, else the model's seed), which holds out other rows; resume with TrainingOptions.Seed = {Clip(savedSplitSeed)}");
        }

        // The penalty the next epoch trains with: the options' (possibly set by a callback before the checkpoint was
        // written, applied from the next epoch), else the model's.
        if (meta.TryGetValue("regularization", out var savedPenalty) && savedPenalty != Penalty(model, options).Name)
        {
            throw Bad(path, $"it continues with regularization {Clip(savedPenalty, 200)} but this run would train with {Penalty(model, options).Name}; resume with the same penalty (TrainingOptions.Regularization, or the model's Regularizer when that is null; the one the run had when the checkpoint was written, if a callback changed it)");
        }

        if (meta.TryGetValue("class_weights", out var savedWeights) && savedWeights != ClassWeightsText(options))
        {
            throw Bad(path, $"it continues with {WeightsText(Clip(savedWeights, 200))} but the options have {WeightsText(ClassWeightsText(options))}, which weigh the cost otherwise; resume with the same ClassWeights (the ones the run had when the checkpoint was written, if a callback changed them)");
        }

        // The history's per-mini-batch costs would cover only part of the run (the course's cost plot, from a later epoch on).
        string recordIterations = options.RecordIterations ? "true" : "false";
        if (meta.TryGetValue("record_iterations", out var savedRecord) && savedRecord != recordIterations)
        {
            throw Bad(path, $"it was trained with RecordIterations = {Clip(savedRecord)} but the options have RecordIterations = {recordIterations}, so History.IterationCosts would cover only part of the run; resume with the same RecordIterations");
        }

        string smoothing = options.LabelSmoothing.ToString("R", CultureInfo.InvariantCulture);
        if (meta.TryGetValue("label_smoothing", out var savedSmoothing) && savedSmoothing != smoothing)
        {
            throw Bad(path, $"it was trained with LabelSmoothing = {Clip(savedSmoothing)} but the options have LabelSmoothing = {smoothing}; resume with the same smoothing");
        }

        if (meta.TryGetValue("gradient_clip_norm", out var savedClipNorm) && savedClipNorm != ClipText(options.GradientClipNorm))
        {
            throw Bad(path, $"it was trained with GradientClipNorm = {ClipShown(Clip(savedClipNorm))} but the options have GradientClipNorm = {ClipShown(ClipText(options.GradientClipNorm))}; resume with the same clipping");
        }

        if (meta.TryGetValue("gradient_clip_value", out var savedClipValue) && savedClipValue != ClipText(options.GradientClipValue))
        {
            throw Bad(path, $"it was trained with GradientClipValue = {ClipShown(Clip(savedClipValue))} but the options have GradientClipValue = {ClipShown(ClipText(options.GradientClipValue))}; resume with the same clipping");
        }

        return new Resume<T>(epoch, step, rate, initialRate, new ModelState<T>(weights), optimizerState, randoms, shuffle, history, callbackImports);
    }

    /// <summary>The random sources a training source owns besides the shuffle the trainer passes in (e.g. augmentation).</summary>
    internal static IReadOnlyList<RandomSource> DataRandomSources<T>(IDataSource<T> source)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        source is IRandomStateSource holder ? holder.RandomSources.ToArray() : [];

    private static string ShuffleText<T>(TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T> => options.Shuffle ? "true" : "false";

    private static string SplitText<T>(TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T> => options.ValidationSplit.ToString("R", CultureInfo.InvariantCulture);

    // The seed that draws ValidationSplit's rows (the shuffle seed: the options', else the model's); "" without a split.
    private static string SplitSeedText<T>(Model<T> model, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        options.ValidationSplit > 0 ? (options.Seed ?? model.Seed).ToString(CultureInfo.InvariantCulture) : string.Empty;

    // The penalty the next epoch trains with (the options' replaces the model's when that epoch starts).
    private static Regularizer Penalty<T>(Model<T> model, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T> => options.Regularization ?? model.Regularizer;

    // TrainingOptions.ClassWeights as the checkpoint records them: "" for none, else the weights, comma-separated.
    private static string ClassWeightsText<T>(TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        options.ClassWeights is { } weights ? string.Join(",", weights.Select(w => w.ToString("R", CultureInfo.InvariantCulture))) : string.Empty;

    // A clipping limit as the checkpoint records it: "" for none.
    private static string ClipText(double? limit) => limit is double v ? v.ToString("R", CultureInfo.InvariantCulture) : string.Empty;

    private static string ClipShown(string recorded) => recorded.Length == 0 ? "null" : recorded;

    private static string WeightsText(string recorded) => recorded.Length == 0 ? "no class weights" : $"ClassWeights [{recorded}]";

    // The schedule as the checkpoint records it: its description, or "" for none (no schedule describes itself as "").
    private static string DescribeDecay(LearningRateSchedule? decay) => decay?.Describe() ?? string.Empty;

    private static string DecayText(string described) => described.Length == 0 ? "no decay" : $"decay {described}";

    // The saved callback states by position ("callback.<i>.kind" and ".state"), checked against "callback_states" when the
    // checkpoint lists them.
    private static Dictionary<int, string> SavedCallbackStates(string path, IReadOnlyDictionary<string, string> meta)
    {
        var saved = new Dictionary<int, string>();
        foreach (var (key, value) in meta)
        {
            if (!key.StartsWith("callback.", StringComparison.Ordinal) || key == "callback_states")
            {
                continue;
            }

            int dot = key.IndexOf('.', "callback.".Length);
            string suffix = dot < 0 ? string.Empty : key[(dot + 1)..];
            if (dot < 0 || suffix is not ("kind" or "state")
                || !int.TryParse(key.AsSpan("callback.".Length, dot - "callback.".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
                || i.ToString(CultureInfo.InvariantCulture) != key["callback.".Length..dot])
            {
                throw Bad(path, $"the metadata entry '{Clip(key)}' is not a callback's kind or state");
            }

            if (!meta.ContainsKey($"callback.{i}.kind") || !meta.ContainsKey($"callback.{i}.state"))
            {
                throw Bad(path, $"the metadata entry '{Clip(key)}' has no '{(suffix == "kind" ? "state" : "kind")}' beside it");
            }

            if (suffix == "kind")
            {
                saved[i] = value;
            }
        }

        if (meta.TryGetValue("callback_states", out var listed))
        {
            string actual = string.Join(",", saved.Keys.Order().Select(i => i.ToString(CultureInfo.InvariantCulture)));
            if (listed != actual)
            {
                throw Bad(path, $"its callback_states '{Clip(listed)}' do not match the callback states it holds ({(actual.Length == 0 ? "none" : actual)})");
            }
        }

        return saved;
    }

    private static void CheckArchitecture<T>(string path, string savedJson, Model<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string saved, current;
        try
        {
            // Duplicate keys are refused as Model.Load refuses them (a JsonObject would throw ArgumentException on first use).
            var options = new JsonDocumentOptions { MaxDepth = 16, AllowDuplicateProperties = false };
            saved = Describe(JsonNode.Parse(savedJson, documentOptions: options) as JsonObject ?? throw new JsonException("not an object"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw Bad(path, $"the architecture metadata is malformed: {e.Message}");
        }

        current = Describe((JsonObject)JsonNode.Parse(ModelFile.ArchitectureJson(model))!);
        if (saved != current)
        {
            throw Bad(path, $"it was written for another architecture: the checkpoint's network is {Clip(saved, 400)}; this model is {current}");
        }
    }

    // A checkpoint written with another standardizer (or none) holds weights trained on differently scaled data.
    private static void CheckTransform<T>(string path, string key, IInputTransform<T>? live, IReadOnlyDictionary<string, string> meta, IReadOnlyDictionary<string, Tensor<T>> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string prefix = key + ".";
        var saved = tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        string savedKind = meta.TryGetValue(key, out var k) ? k : "none";
        string liveKind = live?.Kind ?? "none";
        if (savedKind != liveKind)
        {
            throw Bad(path, $"it was written for a model whose {key.Replace('_', ' ')} is {Clip(savedKind)} but this model's is {liveKind}; resume with the same model");
        }

        var liveTensors = live?.ExportTensors() ?? new Dictionary<string, Tensor<T>>();
        if (saved.Count != liveTensors.Count || liveTensors.Any(kv => !saved.TryGetValue(kv.Key, out var t) || !t.Equals(kv.Value)))
        {
            throw Bad(path, $"its {key.Replace('_', ' ')} ({Clip(savedKind)}) holds other values than this model's (fitted to other data?); resume with the same model");
        }
    }

    // The parts of the architecture that must match (the seed and regularizer may differ: the options set the latter).
    private static string Describe(JsonObject arch)
    {
        var layers = (arch["layers"] as JsonArray ?? throw new JsonException("'layers' is not an array")).Select(node =>
        {
            var o = node as JsonObject ?? throw new JsonException("a layer is not an object");
            var settings = o["settings"] as JsonObject;
            string args = settings is null ? string.Empty : string.Join(", ", settings.Select(kv => $"{kv.Key}={kv.Value?.ToJsonString()}"));
            return $"{o["name"]?.ToJsonString()}:{o["kind"]?.ToJsonString()}({o["inputSize"]?.ToJsonString()} in{(args.Length == 0 ? string.Empty : ", " + args)})";
        });
        return $"{arch["inputs"]?.ToJsonString()} inputs → [{string.Join(", ", layers)}] → {arch["outputs"]?.ToJsonString()} outputs, loss {arch["loss"]?.ToJsonString()}";
    }

    private static string HistoryJson(History history)
    {
        var inv = CultureInfo.InvariantCulture;
        static JsonNode? D(double? v) => v is double d ? JsonValue.Create(d.ToString("R", CultureInfo.InvariantCulture)) : null;
        var array = new JsonArray();
        foreach (var e in history.Epochs)
        {
            array.Add((JsonNode)new JsonArray(JsonValue.Create(e.Epoch.ToString(inv)), D(e.Cost), D(e.TrainMetric), D(e.DevCost), D(e.DevMetric), D(e.LearningRate), D(e.Seconds)));
        }

        return array.ToJsonString();
    }

    // The history's metric is the model's (accuracy for a classifier, rmse otherwise), and with it which way is better.
    // Every value is one the fit loop can record: epochs numbered 1, 2, … in order; costs finite (and ≥ 0 for a built-in
    // loss); an accuracy in [0, 1], an rmse ≥ 0; a dev cost and dev metric together or not at all. A dev cost, and a
    // regression's dev rmse, may be NaN or +∞ (a dev prediction that overflowed while training stayed finite), a custom loss's costs any
    // sign; −∞ never: a value nothing can record would otherwise steer the resumed run (its best epoch, early stopping).
    private static History ReadHistory(string path, bool classification, Loss loss, string metric, string json, string iterations)
    {
        var history = History.ForModel(classification);
        if (metric != history.MetricName)
        {
            throw Bad(path, $"its history's metric is '{Clip(metric)}' but this model's is '{history.MetricName}'; resume with the same model");
        }

        bool custom = loss is CustomLoss;
        var inv = CultureInfo.InvariantCulture;
        try
        {
            var array = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 4 }) as JsonArray ?? throw new JsonException("not an array");
            for (int row = 0; row < array.Count; row++)
            {
                var cells = array[row] as JsonArray;
                if (cells is null || cells.Count != 7)
                {
                    throw new JsonException("an epoch is not an array of 7 entries");
                }

                double? Cell(int i) => cells[i] is null ? null : double.Parse(cells[i]!.GetValue<string>(), NumberStyles.Float, inv);
                int number = row + 1;
                string numbered = cells[0]?.GetValue<string>() ?? "null";
                if (numbered != number.ToString(inv))
                {
                    throw new FormatException($"its epoch {number} is numbered '{Clip(numbered)}' (a run's epochs are numbered 1, 2, … in order)");
                }

                double cost = Cell(1) ?? throw new FormatException($"epoch {number} has no cost");
                double? trainMetric = Cell(2), devCost = Cell(3), devMetric = Cell(4);
                if (devCost.HasValue != devMetric.HasValue)
                {
                    throw new FormatException($"epoch {number} has a dev {(devCost.HasValue ? "cost" : metric)} without a dev {(devCost.HasValue ? metric : "cost")}");
                }

                Require(number, "cost", cost, CostRule(custom));
                if (trainMetric is double t)
                {
                    Require(number, metric, t, MetricRule(classification, dev: false));
                }

                if (devCost is double dc)
                {
                    Require(number, "dev cost", dc, DevCostRule(custom));
                    Require(number, "dev " + metric, devMetric!.Value, MetricRule(classification, dev: true));
                }

                // α and the seconds are checked by AddEpoch (positive and finite, ≥ 0 and finite).
                history.AddEpoch(new EpochRecord(number, cost, trainMetric, devCost, devMetric, Cell(5) ?? double.NaN, Cell(6) ?? double.NaN));
            }

            byte[] bytes = Convert.FromBase64String(iterations);
            if (bytes.Length % sizeof(double) != 0)
            {
                throw new FormatException($"the iteration costs take {bytes.Length} bytes, not a multiple of 8");
            }

            var costs = MemoryMarshal.Cast<byte, double>(bytes);
            history.EnsureIterationCapacity(costs.Length);
            var rule = CostRule(custom);
            for (int k = 0; k < costs.Length; k++)
            {
                if (!rule.Accepts(costs[k]))
                {
                    throw new FormatException(string.Create(inv, $"iteration {k}'s cost is {costs[k]:R}, but {rule.Text}"));
                }

                history.AddIteration(costs[k]);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException or ArgumentException or NullReferenceException)
        {
            throw Bad(path, $"the history is malformed: {e.Message}");
        }

        return history;

        static void Require(int epoch, string what, double value, ValueRule rule)
        {
            if (!rule.Accepts(value))
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch}'s {what} is {value:R}, but {rule.Text}"));
            }
        }
    }

    // What a cost of the fit loop can be: finite always (a non-finite one stops the run, or with the guard off is never
    // written); ≥ 0 for the built-in losses (cross-entropy, squared, absolute and Huber errors, plus a penalty ≥ 0).
    private static ValueRule CostRule(bool custom) => custom
        ? new(double.MinValue, double.MaxValue, false, false, "a cost is finite")
        : new(0, double.MaxValue, false, false, "a cost is finite and ≥ 0");

    // A dev cost may be NaN or +∞ for a classifier too: the dev pass never stops on an output that overflowed (a dev
    // input of 3e38 in a float model), it only records the figure.
    private static ValueRule DevCostRule(bool custom) => custom
        ? new(double.MinValue, double.MaxValue, true, true, "a dev cost is finite (NaN or +∞ only when a dev prediction overflowed)")
        : new(0, double.MaxValue, true, true, "a dev cost is ≥ 0 (NaN or +∞ only when a dev prediction overflowed)");

    // Accuracy (per example, or per cell for a multi-label output) is a fraction; an rmse is ≥ 0, +∞ when squared errors
    // overflowed, and a dev rmse NaN when a dev prediction did.
    private static ValueRule MetricRule(bool classification, bool dev) => classification
        ? new(0, 1, false, false, "an accuracy is in [0, 1]")
        : new(0, double.MaxValue, dev, true, dev ? "an rmse is ≥ 0 (NaN or +∞ only when a dev prediction overflowed)" : "an rmse is ≥ 0");

    /// <summary>The first cost of <paramref name="history"/> that <see cref="ReadHistory"/> would refuse, described; null when none.</summary>
    private static string? CostProblem(History history, Loss loss)
    {
        var rule = CostRule(loss is CustomLoss);
        if (history.Epochs.FirstOrDefault(e => !rule.Accepts(e.Cost)) is { } epoch)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the history's epoch {epoch.Epoch} has cost {epoch.Cost:R}, and {rule.Text}");
        }

        var costs = history.IterationCosts;
        for (int k = 0; k < costs.Count; k++)
        {
            if (!rule.Accepts(costs[k]))
            {
                return string.Create(CultureInfo.InvariantCulture, $"the history's iteration {k} has cost {costs[k]:R}, and {rule.Text}");
            }
        }

        return null;
    }

    private static void RequireFinite<T>(string path, string name, Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = FiniteCheck.FirstNonFinite(tensor.ReadOnlySpan);
        if (k >= 0)
        {
            throw Bad(path, string.Create(CultureInfo.InvariantCulture, $"tensor '{name}' holds {tensor.ReadOnlySpan[k]} at index {k}; a checkpoint holds only verified finite state"));
        }
    }

    private static long ParseLong(string path, string key, string text, long min, long max) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v >= min && v <= max
            ? v
            : throw Bad(path, $"metadata '{key}' must be an integer in [{min}, {max}]; received '{Clip(text)}'");

    // A rate that rounds to 0 or ∞ in T would pass here and fail the run's first step, after the model had changed.
    private static double ParseRate<T>(string path, string key, string text)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v) && T.CreateChecked(v) is var t && T.IsFinite(t) && t > T.Zero
            ? v
            : throw Bad(path, $"metadata '{key}' must be a positive finite number that {typeof(T).Name} can hold; received '{Clip(text)}'");

    private static string Clip(string text, int max = 80) => text.Length <= max ? text : text[..max] + "…";

    private static InvalidDataException Bad(string path, string why) => new($"'{path}' is not a usable training checkpoint: {why}");

    private static InvalidDataException OptimizerStateDoesNotFit(string path, ArgumentException e) =>
        new($"'{path}' is not a usable training checkpoint: its optimizer state does not fit this model: {e.Message}", e);

    /// <summary>The values a history cell may hold: finite ones in [<paramref name="Min"/>, <paramref name="Max"/>], and NaN or +∞ where allowed.</summary>
    private readonly record struct ValueRule(double Min, double Max, bool AllowNaN, bool AllowPositiveInfinity, string Text)
    {
        public bool Accepts(double value) =>
            double.IsNaN(value) ? AllowNaN : double.IsPositiveInfinity(value) ? AllowPositiveInfinity : value >= Min && value <= Max;
    }
}

/// <summary>A checkpoint read and validated in full by <see cref="TrainingCheckpoint.Read{T}"/>, applied only once nothing can fail.</summary>
internal sealed class Resume<T>(
    int epoch,
    long step,
    double learningRate,
    double initialLearningRate,
    ModelState<T> weights,
    IReadOnlyDictionary<string, Tensor<T>> optimizerState,
    IReadOnlyList<(RandomSource Live, RandomSource Saved)> randoms,
    RandomSource shuffle,
    History history,
    IReadOnlyList<Action> callbackImports)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The epochs completed when the checkpoint was written.</summary>
    public int Epoch => epoch;

    /// <summary>α0 as it was (callbacks may have changed it).</summary>
    public double InitialLearningRate => initialLearningRate;

    /// <summary>The history up to the checkpoint.</summary>
    public History History => history;

    /// <summary>Puts the state into the model, optimizer and random sources.</summary>
    public void Apply(Model<T> model, Optimizer optimizer, RandomSource liveShuffle)
    {
        // Read checked this state against the same optimizer and parameters (CheckImportable), so this cannot throw, and
        // past this point nothing else can fail either.
        optimizer.ImportState(model.Parameters, optimizerState);
        optimizer.StepCount = step;
        optimizer.LearningRate = learningRate;
        model.RestoreState(weights);
        foreach (var (live, saved) in randoms)
        {
            live.ImportState(saved.ExportState());
        }

        liveShuffle.ImportState(shuffle.ExportState());
    }

    /// <summary>Puts back the callbacks' state (after their <see cref="ITrainingCallback.OnTrainBegin"/>, which resets it).</summary>
    public void ApplyCallbacks()
    {
        foreach (var import in callbackImports)
        {
            import();
        }
    }
}

/// <summary>
/// A callback whose state a training checkpoint saves, so a resumed run behaves as an uninterrupted one
/// (<see cref="EarlyStopping"/>: best epoch, best value, epochs waited, best weights).
/// </summary>
internal interface ICheckpointedCallback
{
    /// <summary>The state as text, and the weights snapshot it holds (from <see cref="TrainingContext.CaptureWeights"/>) or null.</summary>
    (string State, object? Weights) ExportCheckpointState();

    /// <summary>
    /// Validates a saved state, written after <paramref name="epoch"/> epochs, against the checkpoint's validated
    /// <paramref name="history"/> (the resumed run's), and returns the action that installs it, in the callback and in
    /// what it writes into the history (nothing changes before it runs).
    /// </summary>
    /// <exception cref="FormatException">The state text is malformed, or disagrees with the history.</exception>
    Action PrepareImport(string state, object? weights, int epoch, bool hasValidation, History history);

    /// <summary>
    /// Once imported: why this callback had already ended training when the checkpoint was written (early stopping whose
    /// patience ran out), so the resumed run is finished and trains no more epochs; null otherwise.
    /// </summary>
    string? FinishedReason => null;
}
