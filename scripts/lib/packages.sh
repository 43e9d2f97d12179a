# Installs the Debian packages the tests need, only when they are missing.
# Sourced by scripts/test; defines ensure_packages.

# Runs apt-get update once, then installs the named packages.
apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if [ -z "${PROXYHEALTH_APT_UPDATED:-}" ]; then
        $sudo apt-get update -qq
        PROXYHEALTH_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# Debian starts the services of some packages it installs (Prometheus on
# :9090, Alertmanager on :9093); the tests run their own on other ports, so
# stop and disable the ones just installed where systemd runs.
stop_services() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now "$@" >/dev/null 2>&1 || true
    fi
}

# PostgreSQL server binaries (initdb, pg_ctl), Chromium for the dashboard's
# browser test, promtool (from prometheus) to lint the metrics output and test
# the alert rules, Prometheus with Alertmanager for the alerting test, and
# systemd-nspawn (systemd-container) with debootstrap to boot a Debian with
# systemd for the Debian package's test.
ensure_packages() {
    local missing=()
    if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        missing+=(chromium)
    fi
    local services=()
    if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
        missing+=(prometheus)
        services+=(prometheus)
    fi
    if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
        missing+=(prometheus-alertmanager)
        services+=(prometheus-alertmanager)
    fi
    if ! command -v systemd-nspawn >/dev/null 2>&1; then
        missing+=(systemd-container)
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        missing+=(debootstrap)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        apt_install "${missing[@]}"
        if [ "${#services[@]}" -gt 0 ]; then stop_services "${services[@]}"; fi
    else
        echo "all present: postgresql, chromium, prometheus (promtool), prometheus-alertmanager," \
            "systemd-container, debootstrap"
    fi
}
