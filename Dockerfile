# syntax=docker/dockerfile:1
#
# One image with every binary in cmd/: importctl, producer and worker. The
# default entrypoint is importctl; run another binary with
# `docker run --entrypoint /usr/local/bin/worker IMAGE`.
#
#   docker build -t userimport .
#   docker run --rm -i userimport validate - < users.csv

# ---- build -----------------------------------------------------------------
FROM golang:1.26 AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# Static binaries (CGO off) without local paths or debug info. Time zones need
# no tzdata in the image: internal/userrow embeds it (time/tzdata).
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

# ---- run -------------------------------------------------------------------
# distroless/static: no shell, no package manager; CA certificates included
# (for S3 and SMTP over TLS).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot
ENTRYPOINT ["/usr/local/bin/importctl"]
