//! Routes that document themselves: every route of the API is registered through
//! [`ApiRouter::route`] with [`Methods`], which pair each method's handler with its summary,
//! so `GET /docs/v1/openapi.json` (OpenAPI 3.1) lists exactly what is served — a route
//! cannot exist undocumented, and a documented one cannot be missing.

use super::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use serde_json::{Map, Value, json};

/// One documented operation.
#[derive(Clone, Debug)]
pub(super) struct Operation {
    pub path: String,
    pub method: Method,
    pub summary: &'static str,
    /// Whether it needs a bearer token.
    pub authenticated: bool,
}

/// The methods of one path, each with its handler and summary (axum's `get(h).post(h2)`,
/// with a summary per method).
pub(super) struct Methods {
    router: MethodRouter<AppState>,
    ops: Vec<(Method, &'static str)>,
}

/// `get(summary, handler)` and the like: a path's first method.
macro_rules! first_method {
    ($name:ident, $m:expr) => {
        pub(super) fn $name<H, T>(summary: &'static str, h: H) -> Methods
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            Methods { router: routing::$name(h), ops: vec![($m, summary)] }
        }
    };
}

/// `.post(summary, handler)` and the like: a further method of the same path.
macro_rules! more_methods {
    ($($name:ident => $m:expr),*) => {
        impl Methods {
            $(
                pub(super) fn $name<H, T>(mut self, summary: &'static str, h: H) -> Methods
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(h);
                    self.ops.push(($m, summary));
                    self
                }
            )*
        }
    };
}

first_method!(get, Method::GET);
first_method!(post, Method::POST);
first_method!(put, Method::PUT);
first_method!(delete, Method::DELETE);
more_methods!(post => Method::POST, put => Method::PUT, patch => Method::PATCH, delete => Method::DELETE);

impl Methods {
    /// Applies something to the underlying method router (a body limit, say).
    pub(super) fn with(mut self, f: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>) -> Methods {
        self.router = f(self.router);
        self
    }
}

/// A router that keeps the list of its operations.
#[derive(Default)]
pub(super) struct ApiRouter {
    router: Router<AppState>,
    ops: Vec<Operation>,
}

impl ApiRouter {
    pub(super) fn new() -> ApiRouter {
        ApiRouter::default()
    }

    pub(super) fn route(mut self, path: &str, m: Methods) -> ApiRouter {
        self.router = self.router.route(path, m.router);
        self.ops.extend(m.ops.into_iter().map(|(method, summary)| Operation {
            path: path.to_string(),
            method,
            summary,
            authenticated: false,
        }));
        self
    }

    pub(super) fn nest(mut self, prefix: &str, other: ApiRouter) -> ApiRouter {
        self.router = self.router.nest(prefix, other.router);
        self.ops.extend(other.ops.into_iter().map(|mut op| {
            op.path = if op.path == "/" { prefix.to_string() } else { format!("{prefix}{}", op.path) };
            op
        }));
        self
    }

    pub(super) fn merge(mut self, other: ApiRouter) -> ApiRouter {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }

    /// Marks every operation so far as needing a bearer token, and applies `layer` (the
    /// middleware that checks it) to them.
    pub(super) fn authenticated(mut self, layer: impl FnOnce(Router<AppState>) -> Router<AppState>) -> ApiRouter {
        self.router = layer(self.router);
        for op in &mut self.ops {
            op.authenticated = true;
        }
        self
    }

    /// Applies something to every route so far (a layer).
    pub(super) fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> ApiRouter {
        self.router = f(self.router);
        self
    }

    pub(super) fn operations(&self) -> &[Operation] {
        &self.ops
    }

    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// The OpenAPI 3.1 document of `ops`: paths, their parameters, summaries and which need a
/// bearer token. Bodies are described in words (the README's tables), not as schemas.
pub(super) fn document(ops: &[Operation], version: &str) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let item = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let id = format!("{}{}", op.method.as_str().to_lowercase(), op.path.replace(['/', '{', '}'], "_"));
        let mut o = json!({
            "summary": op.summary,
            "operationId": id,
            "responses": {
                "200": {"description": "Success, with a JSON body (`null` when there is nothing to say)."},
                "400": {"description": "Bad input; the body names the problem."},
                "401": {"description": "Missing, invalid or expired token."},
                "403": {"description": "Not allowed."},
                "404": {"description": "No such entry."}
            }
        });
        if !params.is_empty() {
            o["parameters"] = Value::Array(params);
        }
        if op.authenticated {
            o["security"] = json!([{"bearer": []}]);
        }
        item[op.method.as_str().to_lowercase()] = o;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Kanidm-compatible identity server", "version": version},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWS"}}}
    })
}
