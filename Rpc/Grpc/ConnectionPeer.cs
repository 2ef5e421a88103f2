namespace MetaGpu.Rpc.Grpc;

/// <summary>One accepted connection as its calls see it: its name (<c>ServerCallContext.Peer</c>) and, when read, its Unix peer.</summary>
internal sealed record ConnectionPeer(string Name, UnixPeer? Unix);
