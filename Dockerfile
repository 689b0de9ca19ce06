# syntax=docker/dockerfile:1
#
# The ferry node agent: a static Go binary on an empty base.
#
#   docker build \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     -t ghcr.io/ferry-dev/ferry:dev .
#
# Where no base image can be pulled, hack/image.sh builds the binary with the
# exact command of the build stage below and assembles the runtime stage with
# buildah.

ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# hack/image.sh runs this very line (from "CGO_ENABLED=0" on): keep it one line.
# -tags nodemo leaves `ferry demo` out (its in-process broker, second Kafka
# client and simulated node: a quarter of the binary, see hack/demo-cost.sh);
# the demo runs from the repository with `go run ./cmd/agent demo`.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -tags nodemo -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/ferry ./cmd/agent

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="ferry" \
      org.opencontainers.image.description="Kubernetes node agent: container logs and node metrics to Kafka, at least once" \
      org.opencontainers.image.source="https://github.com/ferry-dev/ferry" \
      org.opencontainers.image.url="https://github.com/ferry-dev/ferry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# TLS to Kafka brokers with public certificates.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ferry /ferry
# Non-root by default; the Helm chart runs it as uid 0 with every capability
# dropped because container log files are root-owned 0640 (see values.yaml).
USER 65532:65532
ENTRYPOINT ["/ferry"]
CMD ["run", "--config", "/etc/ferry/config.yaml"]
