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

# PostgreSQL server binaries (initdb, pg_ctl), Chromium for the dashboard's
# browser test, and promtool to lint the metrics output.
ensure_packages() {
    local missing=()
    if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        missing+=(chromium)
    fi
    if ! command -v promtool >/dev/null 2>&1; then
        missing+=(prometheus)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        apt_install "${missing[@]}"
    else
        echo "all present: postgresql, chromium, promtool"
    fi
}
