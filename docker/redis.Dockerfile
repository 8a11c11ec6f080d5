# Redis 7 from Debian bookworm for compose.yaml's lb profile: the same base as jobd's image, and
# buildable from a Debian mirror alone (no other registry). Its build context is docker/, not the
# repository (whose .dockerignore is jobd's). From the repository root:
#   docker build -f docker/redis.Dockerfile -t jobd-redis:dev docker
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package's scripts must not try to start the server during the build.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /usr/sbin/policy-rc.d \
 && install -d -o redis -g redis -m 0750 /data

COPY redis.conf /etc/redis/jobd.conf
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint
RUN chmod 0644 /etc/redis/jobd.conf && chmod 0755 /usr/local/bin/redis-entrypoint

VOLUME ["/data"]
USER redis
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
  CMD ["/usr/local/bin/redis-entrypoint", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
CMD []
