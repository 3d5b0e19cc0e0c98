namespace DeepLearning.Tests;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-atomic-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string target, bool stale)
    {
        string path = Path.Combine(_dir, AtomicFile.TemporaryName(target, Guid.NewGuid().ToString("N")));
        File.WriteAllBytes(path, new byte[1000]); // what a save killed mid-write leaves behind
        if (stale)
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow - TimeSpan.FromHours(1));
        }

        return path;
    }

    [Fact]
    public void The_next_save_deletes_the_stale_temporary_files_of_its_target_and_nothing_else()
    {
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        string target = Path.Combine(_dir, "m.safetensors");
        model.Save(target);
        var stale = Enumerable.Range(0, 5).Select(_ => Temp("m.safetensors", stale: true)).ToList();
        string fresh = Temp("m.safetensors", stale: false);                // a save in progress right now
        string otherTarget = Temp("other.safetensors", stale: true);       // another target's leftovers
        string longerName = Temp("m.safetensors.bak", stale: true);        // target "m.safetensors.bak", not ours
        string notOurPattern = Path.Combine(_dir, ".m.safetensors.notes.tmp");
        File.WriteAllText(notOurPattern, "user file");
        File.SetLastWriteTimeUtc(notOurPattern, DateTime.UtcNow - TimeSpan.FromHours(1));
        string locked = Temp("m.safetensors", stale: true);
        using (new FileStream(locked, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            // An old file still locked by a live (if slow) writer must survive the clean-up.
            var retrained = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 2);
            retrained.Save(target);
            var x = Tensor.FromArray(new float[] { 1, -2, 0.5f }, 1, 3);
            Model.Load<float>(target).Predict(x).Should().Be(retrained.Predict(x), "the target holds the new model, intact");
        }

        stale.Should().OnlyContain(p => !File.Exists(p), "stale temporary files of the target are removed");
        File.Exists(fresh).Should().BeTrue("a recently written temporary file may belong to a live save");
        File.Exists(locked).Should().BeTrue("a locked temporary file belongs to a live writer");
        File.Exists(otherTarget).Should().BeTrue("another target's temporary files are not touched");
        File.Exists(longerName).Should().BeTrue("the temporary file of 'm.safetensors.bak' is not one of 'm.safetensors'");
        File.Exists(notOurPattern).Should().BeTrue("a file not in the temporary-name pattern is never deleted");
    }

    [Fact]
    public void Temporary_files_are_named_after_their_target_in_the_same_folder_and_do_not_outlive_a_failed_save()
    {
        string target = Path.Combine(_dir, "notes.txt");
        string? seen = null;
        var act = () => AtomicFile.Write(target, s =>
        {
            seen = ((FileStream)s).Name;
            s.WriteByte(1);
            throw new InvalidOperationException("writer failed");
        });
        act.Should().Throw<InvalidOperationException>();
        Path.GetDirectoryName(seen).Should().Be(_dir);
        Path.GetFileName(seen).Should().MatchRegex(@"^\.notes\.txt\.[0-9a-f]{32}\.tmp$");
        Directory.GetFiles(_dir).Should().BeEmpty("the failed save removes its temporary file and leaves no target");

        AtomicFile.WriteAllText(target, "hello");
        File.ReadAllText(target).Should().Be("hello");
        Directory.GetFiles(_dir).Should().ContainSingle();
    }

    [Fact]
    public void Saving_over_a_read_only_file_is_refused_and_leaves_it_unchanged()
    {
        string target = Path.Combine(_dir, "best.dlm");
        Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1).Save(target);
        byte[] before = File.ReadAllBytes(target);
        File.SetAttributes(target, FileAttributes.ReadOnly);
        try
        {
            // Before: the rename replaced the protected file (on Unix it needs write access to the folder only).
            var other = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 2);
            FluentActions.Invoking(() => other.Save(target))
                .Should().Throw<UnauthorizedAccessException>().WithMessage($"*'{target}'*read-only*");
            File.ReadAllBytes(target).Should().Equal(before);
            Directory.GetFiles(_dir).Should().Equal(target);
        }
        finally
        {
            File.SetAttributes(target, FileAttributes.Normal);
        }
    }
}
