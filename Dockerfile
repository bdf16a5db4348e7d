# syntax=docker/dockerfile:1
# For those with Docker. `make image` needs no container engine and is what
# CI builds, tests (make e2e runs the services from it) and what the digest
# in docs/DEPLOY.md refers to; this file lays out the same file system with
# the same tool (tools/imagebuild -unpack) and copies it onto scratch:
#   - /usr/local/bin/{trigger,scanner,aggregator}: static (CGO_ENABLED=0;
#     modernc.org/sqlite is pure Go), -trimpath -buildvcs=false
#     -ldflags='-s -w -buildid=' (internal/ociimage.BuildArgs);
#   - /etc/ssl/certs/ca-certificates.crt from the pinned
#     golang.org/x/crypto/x509roots/fallback bundle, not the build machine's;
#   - the nonroot user 65532 (/etc/passwd, /etc/group, /home/nonroot) that
#     the manifests' securityContext expects, /tmp 1777 (TMPDIR is an
#     emptyDir in the cluster, with a read-only root filesystem).
# Docker writes its own layer tar and config, so its digest is not make
# image's. Each workload picks its binary with `command:`.
#   docker build --build-arg VERSION=v1.0.0 -t config-report:v1.0.0 .

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV GOFLAGS=-mod=mod
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go run ./tools/imagebuild -arch "${TARGETARCH}" -version "${VERSION}" \
        -out /out/configreport.tar -unpack /rootfs

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="config-report" \
      org.opencontainers.image.description="Weekly AWS Config compliance report: trigger, scanner, aggregator" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /rootfs/ /
# COPY sets every owner to root; the home directory is the user's.
COPY --from=build --chown=65532:65532 /rootfs/home/nonroot /home/nonroot
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
# No default binary: the CronJob and Deployments name theirs.
ENTRYPOINT []
