# The proxyhealth container image: `proxyhealth serve` as a non-root user on
# a read-only root filesystem, its data (the SQLite database by default) in
# the volume /var/lib/proxyhealth, listening on every interface at 8080.
#
# The image is made from the binary `cargo build --release` made, taken from
# the build context, so building it needs no compiler and no network:
#
#   cargo build --release
#   docker build -t proxyhealth .
#   docker run --read-only -v proxyhealth-data:/var/lib/proxyhealth -p 8080:8080 proxyhealth
#
# The build stage only gathers the runtime's files (the binary, the shared
# libraries it links and their loader, a user, CA certificates); the runtime
# stage is `scratch` with those files alone: no shell, no package manager.
# BASE is the Debian the binary was built for (its glibc); the tests pass an
# image made from Debian's packages (scripts/docker-bases) in its place.

ARG BASE=debian:bookworm-slim

FROM ${BASE} AS rootfs
# the binary to package, relative to the build context
ARG BINARY=target/release/proxyhealth
COPY ${BINARY} /rootfs/usr/bin/proxyhealth
# every library the binary links (glibc, libm, libgcc_s) with the loader, the
# user (uid 10001) and its data folder, CA certificates for HTTPS proxies
RUN set -eu; \
    cd /rootfs; \
    for lib in $(ldd usr/bin/proxyhealth | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do \
        mkdir -p ".$(dirname "$lib")"; \
        cp -L "$lib" ".$lib"; \
    done; \
    mkdir -p etc/ssl/certs var/lib/proxyhealth; \
    cp -L /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/; \
    echo 'proxyhealth:x:10001:10001:proxyhealth:/var/lib/proxyhealth:/usr/sbin/nologin' > etc/passwd; \
    echo 'proxyhealth:x:10001:' > etc/group; \
    chown 10001:10001 var/lib/proxyhealth; \
    chmod 0700 var/lib/proxyhealth; \
    chroot /rootfs /usr/bin/proxyhealth --version

FROM scratch
ARG VERSION=0.1.0
ARG SOURCE=unpublished
LABEL org.opencontainers.image.title="proxyhealth" \
      org.opencontainers.image.description="Health checker for a fleet of regional reverse proxies (Coder workspace proxies)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
COPY --from=rootfs /rootfs /
# The default store is the SQLite file in the user's data directory,
# $XDG_DATA_HOME/proxyhealth/proxyhealth.db: /var/lib/proxyhealth/proxyhealth.db,
# in the volume. (Not PROXYHEALTH_DB: a variable would beat the `db` of a
# mounted configuration file.) The listen address is a variable: give
# PROXYHEALTH_LISTEN to change it. SQLite's temporary files go to $TMPDIR:
# the root filesystem is read-only.
ENV PROXYHEALTH_LISTEN=0.0.0.0:8080 \
    XDG_DATA_HOME=/var/lib \
    HOME=/var/lib/proxyhealth \
    TMPDIR=/var/lib/proxyhealth \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 10001:10001
WORKDIR /var/lib/proxyhealth
VOLUME /var/lib/proxyhealth
EXPOSE 8080
# `serve` stops within its 10 s grace on SIGTERM; give `docker stop` more
# (`--stop-timeout 15`, compose `stop_grace_period: 15s`)
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
    CMD ["/usr/bin/proxyhealth", "healthcheck"]
ENTRYPOINT ["/usr/bin/proxyhealth"]
CMD ["serve"]
