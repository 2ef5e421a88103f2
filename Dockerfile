# MetaGPU's container image: the native-AOT `metagpu` executable on Microsoft's chiseled (distroless) runtime-deps
# image. Build it for linux/amd64 (the publish below targets linux-x64):
#
#   docker build --platform linux/amd64 -t REGISTRY/metagpu:0.1.0 .
#
# then push it and set the same reference in static.yaml (docs/kubernetes.md walks through it).

# ---- build: the .NET 10 SDK on Ubuntu 24.04 (noble), the same release as the run stage, so the binary links against
# the glibc it will run with.
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build

# Native AOT links with the platform toolchain: clang (the linker driver the ILCompiler looks for first) and zlib's
# headers, as Microsoft documents for AOT builds in containers. (mcr.microsoft.com/dotnet/sdk:10.0-noble-aot ships
# with them preinstalled and would do as well.)
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Restore first, from the project files only, so a source change does not download the packages again.
COPY MetaGpu.csproj Directory.Build.props ./
RUN dotnet restore MetaGpu.csproj -r linux-x64

COPY . .
# Exactly the publish command of .ci/run (tests/Shipping checks that they stay the same); only the output folder differs.
RUN dotnet publish MetaGpu.csproj -c Release -r linux-x64 -o /out

# ---- run: Ubuntu chiseled runtime-deps (glibc, libgcc, libstdc++, OpenSSL, CA certificates, nothing else): no shell,
# no package manager. InvariantGlobalization is on, so the image needs no ICU (the -extra variant is not needed).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled

LABEL org.opencontainers.image.title="metagpu" \
      org.opencontainers.image.description="MetaGPU: shares NVIDIA GPUs between Kubernetes pods as the cnvrg.io/metagpu extended resource (device plugin DaemonSet)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled"
# The project names no public repository or licence yet; add them when it does, for example with
#   LABEL org.opencontainers.image.source="https://github.com/OWNER/metagpu" org.opencontainers.image.licenses="..."

# The NVIDIA container runtime (or its CDI/CRI hook) mounts libnvidia-ml.so.1 and the GPU device nodes into a container
# that asks for them with these variables: every GPU, driver "utility" capability (NVML) only, no CUDA.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=utility

# The one file the image adds: root-owned, mode 0755, not writable by the user that runs it.
COPY --from=build /out/metagpu /usr/local/bin/metagpu

# User: the image keeps the base image's non-root `app` user (UID 1654), so anything run from it by hand
# (`docker run ... gpus`) is unprivileged by default. The DaemonSet in static.yaml runs it as UID 0 instead, because
# the plugin must create its sockets in the kubelet's device-plugin directory on the host,
# /var/lib/kubelet/device-plugins, which is root:root 0755, and connect to kubelet.sock there, which is also root's;
# a hostPath volume ignores fsGroup, and loosening the host directory's permissions would weaken the node. The
# manifest drops every capability, so that UID 0 has no CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_SYS_ADMIN or the like: it
# can write only where root owns the files (the one mounted directory; the root filesystem is read-only), and
# allowPrivilegeEscalation: false and the RuntimeDefault seccomp profile close the rest.
USER $APP_UID

ENTRYPOINT ["/usr/local/bin/metagpu"]
CMD ["start"]
