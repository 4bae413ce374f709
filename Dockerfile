# syntax=docker/dockerfile:1
# Build: a static, cgo-free binary (SQLite is pure Go).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/usersync ./cmd/usersync \
 && mkdir -p /out/data

# Run: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/usersync /usr/local/bin/usersync
COPY --from=build --chown=65532:65532 /out/data /app/data
USER 65532:65532
ENV ADDR=:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/usersync", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/usersync"]
CMD ["serve"]
