namespace DeepLearning.Tuning.Storage;

/// <summary>Opens a study storage from a URL, as the command lines of the samples take it.</summary>
public static class StudyStorage
{
    /// <summary>
    /// Opens the storage that <paramref name="url"/> names:
    /// <list type="bullet">
    /// <item><c>sqlite:path/to/search.db</c> — a SQLite file (created on first use; its folder must exist);</item>
    /// <item><c>postgres://user[:password]@host[:port]/database</c> (or <c>postgresql://</c>) — a PostgreSQL server;
    /// without a password in the URL, Npgsql's usual sources apply (PGPASSWORD, ~/.pgpass);</item>
    /// <item>an Npgsql connection string, e.g. <c>Host=db;Username=tuner;Database=studies</c>;</item>
    /// <item><c>memory</c> — an <see cref="InMemoryStudyStorage"/> for this process only.</item>
    /// </list>
    /// </summary>
    /// <exception cref="ArgumentException">The URL has none of these forms; the message lists them.</exception>
    public static IStudyStorage Open(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        if (url == "memory")
        {
            return new InMemoryStudyStorage();
        }

        if (url.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            string path = url["sqlite:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..];
            }

            return path.Length == 0
                ? throw new ArgumentException($"the SQLite URL names no file; expected sqlite:path/to/search.db, received \"{url}\"", nameof(url))
                : new SqliteStudyStorage(path);
        }

        if (url.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return new PostgresStudyStorage(ToConnectionString(url));
        }

        if (url.Contains('=', StringComparison.Ordinal))
        {
            return new PostgresStudyStorage(url);
        }

        throw new ArgumentException(
            $"not a study storage URL: \"{Redact(url)}\"; expected sqlite:path/to/search.db, postgres://user@host:port/database, an Npgsql connection string (Host=…;Username=…;Database=…) or memory",
            nameof(url));
    }

    /// <summary>The Npgsql connection string for a <c>postgres://user[:password]@host[:port]/database</c> URL (query parameters are passed on as keywords).</summary>
    /// <exception cref="ArgumentException">The URL is malformed.</exception>
    public static string ToConnectionString(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql") || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"not a PostgreSQL URL: \"{Redact(url)}\"; expected postgres://user[:password]@host[:port]/database", nameof(url));
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder { Host = uri.Host, Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port };
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = pair.Split('=', 2);
            try
            {
                builder[Uri.UnescapeDataString(kv[0])] = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "true";
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"the PostgreSQL URL has an unknown parameter \"{Uri.UnescapeDataString(kv[0])}\": {e.Message}", nameof(url), e);
            }
        }

        return builder.ConnectionString;
    }

    /// <summary>The URL with the password (between the user's ':' and the last '@') shown as ***: a password may itself hold an unescaped '@'.</summary>
    private static string Redact(string url)
    {
        int at = url.LastIndexOf('@');
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (at < 0 || scheme < 0 || at < scheme)
        {
            return url;
        }

        int colon = url.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? string.Concat(url.AsSpan(0, colon + 1), "***", url.AsSpan(at)) : url;
    }
}
