namespace MetaGpu.Cli;

/// <summary>A mistake on the command line or in a METAGPU_* variable: reported with a pointer to the help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
