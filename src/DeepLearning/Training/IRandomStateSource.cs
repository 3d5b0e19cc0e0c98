namespace DeepLearning;

/// <summary>
/// A data source that draws random numbers of its own, besides the shuffle the trainer passes to
/// <see cref="IDataSource{T}.OpenEpoch"/> (augmentation, for example). A training checkpoint saves the state of
/// these sources between epochs and <see cref="TrainingOptions{T}.ResumeFrom"/> restores it, so a resumed run draws the
/// same numbers. Implement it on a custom source with randomness of its own (and pass on a wrapped source's).
/// </summary>
public interface IRandomStateSource
{
    /// <summary>The sources, in a fixed order; their state between epochs decides the next epochs' draws.</summary>
    IEnumerable<RandomSource> RandomSources { get; }
}
