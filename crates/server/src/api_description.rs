//! The OpenAPI 3.1 description of the API, served at `/api/v2/openapi.json`.
//!
//! The description is not written by hand: the router (`routes`) is built
//! from utoipa-axum's `OpenApiRouter`, which registers each handler together
//! with its `#[utoipa::path]` attribute, and the bodies are the wire types'
//! `ToSchema`. So an API route cannot be served without being described.
//!
//! This module holds what belongs to no one handler: the document's info and
//! security schemes ([`ApiDoc`]), what each access rule adds to the operations
//! it guards ([`Access::describe`]: the security requirement and the 401/403
//! answers of the middleware, applied by the router together with the
//! middleware itself), and the finished document as the handlers share it
//! ([`ApiDescription`]).

use proxyhealth_core::access::Role;
use proxyhealth_core::envelope::{ErrorEnvelope, Validation};
use std::sync::Arc;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Type,
    schema::ObjectBuilder,
};
use utoipa::{Modify, OpenApi as _};

/// The security scheme of the admin token sent as `Authorization: Bearer`.
pub(crate) const ADMIN_BEARER: &str = "admin_bearer";
/// The security scheme of the admin token sent as `Coder-Session-Token`.
pub(crate) const ADMIN_SESSION: &str = "admin_session_token";
/// The security scheme of a proxy's token (`Coder-External-Proxy-Token`).
pub(crate) const PROXY_TOKEN: &str = "proxy_token";
/// The security scheme of a vantage's agent token (`Authorization: Bearer`).
pub(crate) const AGENT_BEARER: &str = "agent_bearer";

/// The extension of each operation naming who may call it: `viewer`,
/// `operator`, `admin` (people with that role or higher), `public` (anyone:
/// `public_reads`), `proxy` or `agent` (their own tokens).
pub(crate) const ROLE_EXTENSION: &str = "x-proxyhealth-role";

/// The reusable 401 answer (`#/components/responses/…`).
const UNAUTHORIZED: &str = "Unauthorized";
/// The reusable 403 answer.
const FORBIDDEN: &str = "Forbidden";

/// The document the routes are added to: info, the security schemes, the
/// error envelope and the reusable 401/403 answers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "proxyhealth",
        description = "Health checker for Coder's workspace proxies: Coder's \
            workspace proxy routes (`/api/v2/workspaceproxies`, `/api/v2/regions`, \
            proxy self-registration) and proxyhealth's own (summary, events, history, \
            replicas, notifications, `/healthz`, `/metrics`). Every error is Coder's \
            envelope, `ErrorEnvelope`. See docs/api.md.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    components(schemas(ErrorEnvelope, Validation)),
    modifiers(&Components),
)]
pub(crate) struct ApiDoc;

/// Adds the security schemes and the reusable answers to [`ApiDoc`].
struct Components;

impl Modify for Components {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "The admin token (configured with `admin_token`, or generated and printed \
             once at the first start) or a personal token (`pht_<name>_<secret>`, from \
             `proxyhealth tokens create`): `Authorization: Bearer <token>`. A route needs \
             a role (its `x-proxyhealth-role`): the admin token is `admin`, a personal \
             token has the role it was created with."
                .to_owned(),
        );
        components.add_security_scheme(ADMIN_BEARER, SecurityScheme::Http(bearer));
        components.add_security_scheme(
            ADMIN_SESSION,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::SESSION_TOKEN_HEADER,
                "The admin token or a personal token in Coder's session-token header, \
                 so scripts written for Coder's API work unchanged.",
            ))),
        );
        components.add_security_scheme(
            PROXY_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::PROXY_TOKEN_HEADER,
                "A workspace proxy's token, `<proxy uuid>:<64 hex characters>`, as \
                 returned once by the creation of the proxy (or a regeneration); it only \
                 registers and deregisters its own proxy.",
            ))),
        );
        let mut agent = Http::new(HttpAuthScheme::Bearer);
        agent.description = Some(
            "A vantage's agent token, `<vantage uuid>:<64 hex characters>`, as returned \
             once by the creation of the vantage (or a rotation): `Authorization: Bearer \
             <agent token>`. It only fetches its vantage's assignment and sends its results."
                .to_owned(),
        );
        components.add_security_scheme(AGENT_BEARER, SecurityScheme::Http(agent));
        components.responses.insert(
            UNAUTHORIZED.to_owned(),
            RefOr::T(
                envelope_response(
                    "No credentials, or wrong, revoked or expired ones (the envelope says \
                     which), or a token in the URL. Repeated failures from one address are \
                     answered late.",
                )
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(["Bearer realm=\"proxyhealth\""])),
                        ))
                        .description(Some("Always `Bearer realm=\"proxyhealth\"`."))
                        .build(),
                )
                .build(),
            ),
        );
        components.responses.insert(
            FORBIDDEN.to_owned(),
            RefOr::T(
                envelope_response(
                    "A role below the route's (the envelope names both), or a proxy or \
                     agent token where a person's token is needed.",
                )
                .build(),
            ),
        );
    }
}

/// An answer whose body is the error envelope.
fn envelope_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
            .build(),
    )
}

/// Who may call a group of routes; the router guards the group with the
/// matching middleware and describes it with [`Access::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// People whose role is at least this one (`require_role`).
    Role(Role),
    /// A proxy's token, checked by the handler itself.
    Proxy,
    /// A vantage's agent token, checked by the handler itself.
    Agent,
    /// Anyone, whatever `public_reads` says: who is signed in, which a
    /// browser asks before it has a session.
    Open,
    /// The viewer routes `public_reads` opens: anyone when it is on, else
    /// the viewer role (`require_role`).
    Read {
        /// Whether `public_reads` is on.
        public: bool,
    },
}

impl Access {
    /// The value of [`ROLE_EXTENSION`] for these routes.
    fn extension(self) -> &'static str {
        match self {
            Access::Proxy => "proxy",
            Access::Agent => "agent",
            Access::Read { public: true } => "public",
            Access::Open => "open",
            Access::Role(role) => role.as_str(),
            Access::Read { public: false } => Role::Viewer.as_str(),
        }
    }

    /// Sets the security requirement of every operation in `openapi`, its
    /// [`ROLE_EXTENSION`], and adds the answers of a refused credential (401,
    /// and 403 for a role too low or a proxy or agent token).
    pub(crate) fn describe(self, openapi: &mut OpenApi) {
        let person = || {
            vec![
                SecurityRequirement::new(ADMIN_BEARER, Vec::<String>::new()),
                SecurityRequirement::new(ADMIN_SESSION, Vec::<String>::new()),
            ]
        };
        let (security, refusals): (Vec<SecurityRequirement>, &[&str]) = match self {
            Access::Role(_) | Access::Read { public: false } => {
                (person(), &[UNAUTHORIZED, FORBIDDEN])
            }
            Access::Proxy => (
                vec![SecurityRequirement::new(PROXY_TOKEN, Vec::<String>::new())],
                &[UNAUTHORIZED],
            ),
            Access::Agent => (
                vec![SecurityRequirement::new(AGENT_BEARER, Vec::<String>::new())],
                &[UNAUTHORIZED],
            ),
            // The empty requirement: no credentials needed.
            Access::Read { public: true } | Access::Open => {
                (vec![SecurityRequirement::default()], &[])
            }
        };
        for operation in operations(openapi) {
            operation.security = Some(security.clone());
            operation
                .extensions
                .get_or_insert_with(Extensions::default)
                .insert(ROLE_EXTENSION.to_owned(), self.extension().into());
            for refusal in refusals {
                let status = if *refusal == UNAUTHORIZED {
                    "401"
                } else {
                    "403"
                };
                operation.responses.responses.insert(
                    status.to_owned(),
                    RefOr::Ref(Ref::new(format!("#/components/responses/{refusal}"))),
                );
            }
        }
    }
}

/// Every operation of every path.
fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

/// The document with no routes yet, which the router fills.
pub(crate) fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// The finished description, shared by the handler that serves it. Cheap to
/// clone. The router sets it once it has added every route (the default,
/// an empty document, is never served).
#[derive(Clone, Default)]
pub(crate) struct ApiDescription(Arc<OpenApi>);

impl ApiDescription {
    /// The description of these routes.
    pub(crate) fn new(openapi: OpenApi) -> Self {
        ApiDescription(Arc::new(openapi))
    }

    /// The document.
    pub(crate) fn document(&self) -> &OpenApi {
        &self.0
    }
}
