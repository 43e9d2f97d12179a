# Sourced by scripts/test; defines ensure_oidc_provider.
#
# The sign-in tests run a real OpenID Connect provider, oidc-provider-mock
# from PyPI (a Flask app; crates/testkit/src/oidc_provider.rs starts it).
# Installs it at a pinned version into a venv under the target directory
# (else the user's site-packages when Python has no venv module) unless the
# Python found already has it, and exports PROXYHEALTH_TEST_PYTHON, the
# Python the tests run it with.

OIDC_PROVIDER_MOCK_VERSION=0.3.4

ensure_oidc_provider() {
    local root target venv
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    target=${CARGO_TARGET_DIR:-$root/target}
    venv="$target/oidc-provider-venv"
    if python3 -c 'import oidc_provider_mock' >/dev/null 2>&1; then
        PROXYHEALTH_TEST_PYTHON=$(command -v python3)
    elif [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import oidc_provider_mock' >/dev/null 2>&1; then
        PROXYHEALTH_TEST_PYTHON="$venv/bin/python"
    elif python3 -m venv "$venv" >/dev/null 2>&1; then
        "$venv/bin/pip" install -q "oidc-provider-mock==$OIDC_PROVIDER_MOCK_VERSION"
        PROXYHEALTH_TEST_PYTHON="$venv/bin/python"
    else
        python3 -m pip install -q --user "oidc-provider-mock==$OIDC_PROVIDER_MOCK_VERSION"
        PROXYHEALTH_TEST_PYTHON=$(command -v python3)
    fi
    export PROXYHEALTH_TEST_PYTHON
    echo "OpenID provider for the tests: oidc-provider-mock with $PROXYHEALTH_TEST_PYTHON"
}
