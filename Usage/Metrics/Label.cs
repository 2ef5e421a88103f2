namespace MetaGpu.Usage.Metrics;

/// <summary>One label of a sample. The name is ours (checked when written); the value may be anything and is escaped.</summary>
public readonly record struct Label(string Name, string Value);
