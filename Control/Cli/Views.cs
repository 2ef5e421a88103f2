using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>What <c>get devices</c> shows: the daemon's Info (node, version) and its ListDevices answer.</summary>
internal sealed record DevicesView(InfoResponse Info, ListDevicesResponse Devices);

/// <summary>
/// What <c>get processes</c> shows: Info, ListDevices (the GPUs' totals, other containers' use among them) and
/// ListContainers (or one WatchContainers message).
/// </summary>
internal sealed record ProcessesView(InfoResponse Info, ListDevicesResponse Devices, ListContainersResponse Containers);
