namespace MetaGpu.DevicePlugin;

/// <summary>The kubelet's plugin directory cannot be used by this process; the message says why and what to do.</summary>
public sealed class PluginDirectoryException(string message) : Exception(message);
