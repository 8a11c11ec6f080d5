# nginx from Debian bookworm (nginx-light) for compose.yaml's lb profile: the same base as jobd's
# image, and buildable from a Debian mirror alone (no other registry); build context docker/.
# compose.yaml mounts docker/nginx.conf over the baked-in copy: edits apply on a restart.
#   docker build -f docker/nginx.Dockerfile -t jobd-nginx:dev docker
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package's scripts must not try to start nginx during the build.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /usr/sbin/policy-rc.d \
      /etc/nginx/sites-enabled/* /var/log/nginx/*

COPY nginx.conf /etc/nginx/nginx.conf
COPY healthcheck.sh /usr/local/bin/lb-healthcheck
RUN chmod 0644 /etc/nginx/nginx.conf && chmod 0755 /usr/local/bin/lb-healthcheck

EXPOSE 8080
# jobd's probe (bash's /dev/tcp: no curl or wget in the image) on nginx's own /lb-health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/lb-healthcheck", "127.0.0.1:8080", "/lb-health"]
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-g", "daemon off;"]
