# syntax=docker/dockerfile:1
# One image with the three services; each Kubernetes workload picks its binary
# with `command:` (deploy/kustomize/base). Build: make image.
#
# Static (CGO_ENABLED=0: modernc.org/sqlite is pure Go) on distroless static,
# running as the nonroot user 65532 that the manifests' securityContext
# expects, with a read-only root filesystem (TMPDIR is an emptyDir).

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-mod=mod
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w -buildid=" -o /out/ \
        ./cmd/trigger ./cmd/scanner ./cmd/aggregator

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="config-report" \
      org.opencontainers.image.description="Weekly AWS Config compliance report: trigger, scanner, aggregator" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
# No default binary: the CronJob and Deployments name theirs.
ENTRYPOINT []
