//! The conformance fixture: every tool, resource and prompt the official MCP conformance
//! suite (`npx @modelcontextprotocol/conformance server`) expects, served by Widgetry.
//!
//! `conformance [--port N] [--stdio] [--stateless]` — prints `listening on http://127.0.0.1:N/mcp`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use widgetry::protocol::jsonrpc::RpcError;
use widgetry::protocol::types::*;
use widgetry::{InputRequired, RequestContext, Server, ServerBuilder, Step, ToolError};

/// A 1×1 transparent PNG.
const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// A tiny WAV file (44-byte header, 2 silent samples).
const WAV_TINY: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQQAAAAAAAAA";

fn text_result(s: impl Into<String>) -> Result<CallToolResult, ToolError> {
    Ok(CallToolResult::text(s))
}

fn tool(name: &str, description: &str, schema: Value) -> ToolDescriptor {
    let mut d = ToolDescriptor::new(name);
    d.description = Some(description.into());
    d.input_schema = schema;
    d
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn arg_str(args: &JsonObject, key: &str) -> String {
    args.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A one-field elicitation form: `{field: string}`, required.
fn form(field: &str) -> Value {
    json!({"type": "object", "properties": {field: {"type": "string"}}, "required": [field]})
}

/// The `content.<field>` of an accepted elicitation answer.
fn answered<'a>(ctx: &'a RequestContext, key: &str, field: &str) -> Option<&'a str> {
    ctx.input_response(key)?
        .get("content")?
        .get(field)?
        .as_str()
}

/// The text of a sampling answer (`CreateMessageResult.content.text`).
fn sampled<'a>(ctx: &'a RequestContext, key: &str) -> Option<&'a str> {
    ctx.input_response(key)?
        .get("content")?
        .get("text")?
        .as_str()
}

/// The fixtures of the 2026-07-28 scenarios: input-required results (multi round-trip
/// requests), the diagnostic tools of `server-stateless`, and a tool whose argument is
/// mirrored into an `Mcp-Param-Region` header. On older versions the same handlers run
/// too: the engine then asks the client itself over the session.
fn input_fixtures(b: ServerBuilder) -> ServerBuilder {
    b.tool(tool("test_input_required_result_elicitation", "Asks for the user's name", empty_schema()), |ctx: RequestContext, _| async move {
        match answered(&ctx, "user_name", "name") {
            Some(name) => text_result(format!("Hello, {name}!")),
            // Missing or wrong answers: ask again rather than fail.
            None => Err(InputRequired::new().elicit("user_name", "What is your name?", form("name")).into()),
        }
    })
    .tool(tool("test_input_required_result_sampling", "Asks the client's model a question", empty_schema()), |ctx: RequestContext, _| async move {
        match sampled(&ctx, "capital_question") {
            Some(text) => text_result(format!("The model answered: {text}")),
            None => Err(InputRequired::new()
                .sample("capital_question", json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": "What is the capital of France?"}}],
                    "maxTokens": 100
                }))
                .into()),
        }
    })
    .tool(tool("test_input_required_result_list_roots", "Asks for the client's roots", empty_schema()), |ctx: RequestContext, _| async move {
        match ctx.input_response("client_roots").and_then(|r| r.get("roots")).and_then(Value::as_array) {
            Some(roots) => {
                let uris: Vec<&str> = roots.iter().filter_map(|r| r.get("uri")?.as_str()).collect();
                text_result(format!("Client roots: {}", uris.join(", ")))
            }
            None => Err(InputRequired::new().list_roots("client_roots").into()),
        }
    })
    .tool(tool("test_input_required_result_request_state", "Round-trips a request state", empty_schema()), |ctx: RequestContext, _| async move {
        match (ctx.input_response("confirm"), ctx.input_state()) {
            (Some(_), Some(state)) if state["step"] == "confirm" => text_result("state-ok: the request state came back intact"),
            _ => Err(InputRequired::new()
                .elicit("confirm", "Please confirm", json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}))
                .state(json!({"step": "confirm"}))
                .into()),
        }
    })
    .tool(tool("test_input_required_result_multiple_inputs", "Asks for three inputs at once", empty_schema()), |ctx: RequestContext, _| async move {
        let keys = ["user_name", "greeting", "client_roots"];
        if ctx.input_state().is_some() && keys.iter().all(|k| ctx.input_response(k).is_some()) {
            let name = answered(&ctx, "user_name", "name").unwrap_or("stranger");
            let greeting = sampled(&ctx, "greeting").unwrap_or("Hello");
            return text_result(format!("{greeting}, {name}! (all three inputs received)"));
        }
        Err(InputRequired::new()
            .elicit("user_name", "What is your name?", form("name"))
            .sample("greeting", json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
                "maxTokens": 50
            }))
            .list_roots("client_roots")
            .state(json!({"asked": keys}))
            .into())
    })
    .tool(tool("test_input_required_result_multi_round", "Asks two questions, one per round", empty_schema()), |ctx: RequestContext, _| async move {
        let round = ctx.input_state().and_then(|s| s["round"].as_u64()).unwrap_or(0);
        match round {
            1 => match answered(&ctx, "step1", "name") {
                Some(name) => Err(InputRequired::new()
                    .elicit("step2", "Step 2: What is your favorite color?", form("color"))
                    .state(json!({"round": 2, "name": name}))
                    .into()),
                None => Err(InputRequired::new()
                    .elicit("step1", "Step 1: What is your name?", form("name"))
                    .state(json!({"round": 1}))
                    .into()),
            },
            2 => {
                let name = ctx.input_state().and_then(|s| s["name"].as_str()).unwrap_or_default().to_string();
                match answered(&ctx, "step2", "color") {
                    Some(color) => text_result(format!("{name} likes {color}")),
                    None => Err(InputRequired::new()
                        .elicit("step2", "Step 2: What is your favorite color?", form("color"))
                        .state(json!({"round": 2, "name": name}))
                        .into()),
                }
            }
            _ => Err(InputRequired::new()
                .elicit("step1", "Step 1: What is your name?", form("name"))
                .state(json!({"round": 1}))
                .into()),
        }
    })
    .tool(tool("test_input_required_result_capabilities", "Asks only for what the client supports", empty_schema()), |ctx: RequestContext, _| async move {
        if ctx.input_state().is_some() {
            let got: Vec<&String> = ctx.input_responses().map(|r| r.keys().collect()).unwrap_or_default();
            return text_result(format!("received: {got:?}"));
        }
        let mut ask = InputRequired::new().state(json!({"asked": true}));
        if ctx.client_supports("elicitation") {
            ask = ask.elicit("user_name", "What is your name?", form("name"));
        }
        if ctx.client_supports("sampling") {
            ask = ask.sample("greeting", json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
                "maxTokens": 50
            }));
        }
        if ctx.client_supports("roots") {
            ask = ask.list_roots("client_roots");
        }
        Err(ask.into())
    })
    .tool(tool("test_input_required_result_tampered_state", "Refuses a tampered request state", empty_schema()), |ctx: RequestContext, _| async move {
        // The engine refuses a state that fails verification before this runs.
        match ctx.input_state() {
            Some(state) => text_result(format!("state verified: {state}")),
            None => Err(InputRequired::new()
                .elicit("confirm", "Please confirm", json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}))
                .state(json!({"issued_for": "tampered-state-check"}))
                .into()),
        }
    })
    .tool(tool("test_missing_capability", "Needs sampling, which the client must declare", empty_schema()), |ctx: RequestContext, _| async move {
        match sampled(&ctx, "question") {
            Some(text) => text_result(text.to_string()),
            None => Err(InputRequired::new()
                .sample("question", json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": "Say hi"}}],
                    "maxTokens": 20
                }))
                .into()),
        }
    })
    .tool(tool("test_streaming_elicitation", "Asks for input while reporting progress", empty_schema()), |ctx: RequestContext, _| async move {
        ctx.progress(0.5, Some(1.0), Some("about to ask"));
        match answered(&ctx, "user_name", "name") {
            Some(name) => text_result(format!("Hello, {name}!")),
            None => Err(InputRequired::new().elicit("user_name", "What is your name?", form("name")).into()),
        }
    })
    .tool(tool("test_logging_tool", "Logs three messages (only when the client asked for logs)", empty_schema()), |ctx: RequestContext, _| async move {
        for i in 1..=3 {
            ctx.log("info", Some("conformance"), json!(format!("log message {i}")));
        }
        text_result("logged")
    })
    .tool(
        tool("test_custom_header", "Mirrors its region argument into the Mcp-Param-Region header", json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "description": "Where to run", "x-mcp-header": "Region"},
                "query": {"type": "string"}
            },
            "required": ["region"]
        })),
        |_, args| async move { text_result(format!("region={}", arg_str(&args, "region"))) },
    )
    .prompt_with_input(
        Prompt { name: "test_input_required_result_prompt".into(), title: None, description: Some("A prompt that asks for context first".into()), arguments: vec![] },
        |ctx: RequestContext, _args| async move {
            let step = match answered(&ctx, "user_context", "context") {
                Some(c) => Step::Done(GetPromptResult {
                    description: None,
                    messages: vec![PromptMessage::user(Content::text(format!("Use this context: {c}")))],
                }),
                None => Step::Input(InputRequired::new().elicit("user_context", "What context should the prompt use?", form("context"))),
            };
            Ok::<_, RpcError>(step)
        },
    )
}

fn build() -> Server {
    input_fixtures(Server::builder("widgetry-conformance", env!("CARGO_PKG_VERSION")))
        .instructions("Conformance fixture server for the official MCP conformance suite.")
        .tool(tool("test_simple_text", "Returns a simple text response", empty_schema()), |_, _| async {
            text_result("This is a simple text response for testing.")
        })
        .tool(tool("test_image_content", "Returns an image", empty_schema()), |_, _| async {
            Ok(CallToolResult::content(vec![Content::image(PNG_1X1, "image/png")]))
        })
        .tool(tool("test_audio_content", "Returns audio", empty_schema()), |_, _| async {
            Ok(CallToolResult::content(vec![Content::audio(WAV_TINY, "audio/wav")]))
        })
        .tool(tool("test_embedded_resource", "Returns an embedded resource", empty_schema()), |_, _| async {
            Ok(CallToolResult::content(vec![Content::resource(ResourceContents::text(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            ))]))
        })
        .tool(tool("test_multiple_content_types", "Returns text, image and resource", empty_schema()), |_, _| async {
            Ok(CallToolResult::content(vec![
                Content::text("Multiple content types test:"),
                Content::image(PNG_1X1, "image/png"),
                Content::resource(ResourceContents::text(
                    "test://mixed-content-resource",
                    "application/json",
                    r#"{"test":"data","value":123}"#,
                )),
            ]))
        })
        .tool(tool("test_tool_with_logging", "Sends log messages while running", empty_schema()), |ctx: RequestContext, _| async move {
            for (i, msg) in ["Tool execution started", "Tool processing data", "Tool execution completed"].iter().enumerate() {
                ctx.log("info", Some("conformance"), json!(msg));
                if i < 2 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            text_result("Tool with logging executed successfully")
        })
        .tool(tool("test_error_handling", "Always fails", empty_schema()), |_, _| async {
            Err(ToolError::msg("This tool intentionally returns an error for testing"))
        })
        .tool(tool("test_tool_with_progress", "Reports progress", empty_schema()), |ctx: RequestContext, _| async move {
            for p in [0.0, 50.0, 100.0] {
                ctx.progress(p, Some(100.0), Some(&format!("Completed step {}", p as u32 / 50)));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let token = ctx.progress_token().cloned().unwrap_or(Value::Null);
            text_result(format!("Progress test completed (token {token})"))
        })
        .tool(
            tool("test_sampling", "Asks the client's LLM", json!({"type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send"}},"required":["prompt"]})),
            |ctx: RequestContext, args| async move {
                let prompt = arg_str(&args, "prompt");
                let answer = ctx
                    .request_client(
                        "sampling/createMessage",
                        json!({"messages":[{"role":"user","content":{"type":"text","text":prompt}}],"maxTokens":100}),
                    )
                    .await
                    .map_err(|e| ToolError::msg(format!("sampling failed: {}", e.message)))?;
                let text = answer.pointer("/content/text").and_then(Value::as_str).unwrap_or("");
                text_result(format!("LLM response: {text}"))
            },
        )
        .tool(
            tool("test_elicitation", "Asks the user for input", json!({"type":"object","properties":{"message":{"type":"string","description":"The message to show"}},"required":["message"]})),
            |ctx: RequestContext, args| async move {
                let message = arg_str(&args, "message");
                let answer = ctx
                    .request_client(
                        "elicitation/create",
                        json!({
                            "message": message,
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "username": {"type": "string", "description": "User's response"},
                                    "email": {"type": "string", "description": "User's email address"}
                                },
                                "required": ["username", "email"]
                            }
                        }),
                    )
                    .await
                    .map_err(|e| ToolError::msg(format!("elicitation failed: {}", e.message)))?;
                text_result(format!(
                    "User response: action={}, content={}",
                    answer.get("action").and_then(Value::as_str).unwrap_or("?"),
                    answer.get("content").cloned().unwrap_or(json!({}))
                ))
            },
        )
        .tool(
            tool("test_elicitation_sep1034_defaults", "Elicitation with defaults", empty_schema()),
            |ctx: RequestContext, _| async move {
                let answer = ctx
                    .request_client(
                        "elicitation/create",
                        json!({
                            "message": "Please review and update the form fields with defaults",
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                                    "age": {"type": "integer", "description": "User age", "default": 30},
                                    "score": {"type": "number", "description": "User score", "default": 95.5},
                                    "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                                    "verified": {"type": "boolean", "description": "Verification status", "default": true}
                                },
                                "required": []
                            }
                        }),
                    )
                    .await
                    .map_err(|e| ToolError::msg(format!("elicitation failed: {}", e.message)))?;
                text_result(format!("Elicitation completed: action={}, content={}",
                    answer.get("action").and_then(Value::as_str).unwrap_or("?"),
                    answer.get("content").cloned().unwrap_or(json!({}))))
            },
        )
        .tool(
            tool("test_elicitation_sep1330_enums", "Elicitation with every enum form", empty_schema()),
            |ctx: RequestContext, _| async move {
                let answer = ctx
                    .request_client(
                        "elicitation/create",
                        json!({
                            "message": "Please select options from the enum fields",
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                                    "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                                        {"const": "value1", "title": "First Option"},
                                        {"const": "value2", "title": "Second Option"},
                                        {"const": "value3", "title": "Third Option"}
                                    ]},
                                    "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                                    "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                                    "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                                        {"const": "value1", "title": "First Choice"},
                                        {"const": "value2", "title": "Second Choice"},
                                        {"const": "value3", "title": "Third Choice"}
                                    ]}}
                                },
                                "required": []
                            }
                        }),
                    )
                    .await
                    .map_err(|e| ToolError::msg(format!("elicitation failed: {}", e.message)))?;
                text_result(format!("Elicitation completed: action={}, content={}",
                    answer.get("action").and_then(Value::as_str).unwrap_or("?"),
                    answer.get("content").cloned().unwrap_or(json!({}))))
            },
        )
        .tool(
            tool("json_schema_2020_12_tool", "Tool with a JSON Schema 2020-12 input schema", json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                    }
                },
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"},
                    "email": {"type": "string"}
                },
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false
            })),
            |_, args| async move { text_result(format!("Received: {}", Value::Object(args))) },
        )
        .tool(tool("test_reconnection", "Survives an SSE reconnection", empty_schema()), |ctx: RequestContext, _| async move {
            ctx.log("info", Some("conformance"), json!("before reconnection"));
            tokio::time::sleep(Duration::from_millis(100)).await;
            text_result("Reconnection test completed successfully")
        })
        .text_resource(
            Resource::new("test://static-text", "Static Text Resource").mime("text/plain").description("A static text resource for testing"),
            "This is the content of the static text resource.",
        )
        .resource(
            Resource::new("test://static-binary", "Static Binary Resource").mime("image/png").description("A static binary resource for testing"),
            |_ctx, uri| async move { Ok(vec![ResourceContents::blob(uri, "image/png", PNG_1X1)]) },
        )
        .text_resource(
            Resource::new("test://watched-resource", "Watched Resource").mime("text/plain").description("A resource that can be subscribed to"),
            "Watched resource content",
        )
        .resource_template(
            ResourceTemplate {
                uri_template: "test://template/{id}/data".into(),
                name: "Template Resource".into(),
                title: None,
                description: Some("A resource template with an id parameter".into()),
                mime_type: Some("application/json".into()),
            },
            |_ctx, uri, vars: HashMap<String, String>| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let body = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                Ok(vec![ResourceContents::text(uri, "application/json", body.to_string())])
            },
        )
        .prompt(
            Prompt { name: "test_simple_prompt".into(), title: None, description: Some("A simple prompt without arguments".into()), arguments: vec![] },
            |_ctx, _args| async {
                Ok(GetPromptResult { description: None, messages: vec![PromptMessage::user(Content::text("This is a simple prompt for testing."))] })
            },
        )
        .prompt(
            Prompt {
                name: "test_prompt_with_arguments".into(),
                title: None,
                description: Some("A prompt with arguments".into()),
                arguments: vec![
                    PromptArgument { name: "arg1".into(), description: Some("First test argument".into()), required: true },
                    PromptArgument { name: "arg2".into(), description: Some("Second test argument".into()), required: true },
                ],
            },
            |_ctx, args: HashMap<String, String>| async move {
                let a1 = args.get("arg1").cloned().unwrap_or_default();
                let a2 = args.get("arg2").cloned().unwrap_or_default();
                Ok(GetPromptResult { description: None, messages: vec![PromptMessage::user(Content::text(format!("Prompt with arguments: arg1='{a1}', arg2='{a2}'")))] })
            },
        )
        .prompt(
            Prompt {
                name: "test_prompt_with_embedded_resource".into(),
                title: None,
                description: Some("A prompt with an embedded resource".into()),
                arguments: vec![PromptArgument { name: "resourceUri".into(), description: Some("URI of the resource to embed".into()), required: true }],
            },
            |_ctx, args: HashMap<String, String>| async move {
                let uri = args.get("resourceUri").cloned().unwrap_or_default();
                Ok(GetPromptResult {
                    description: None,
                    messages: vec![
                        PromptMessage::user(Content::resource(ResourceContents::text(uri, "text/plain", "Embedded resource content for testing."))),
                        PromptMessage::user(Content::text("Please process the embedded resource above.")),
                    ],
                })
            },
        )
        .prompt(
            Prompt { name: "test_prompt_with_image".into(), title: None, description: Some("A prompt with an image".into()), arguments: vec![] },
            |_ctx, _args| async {
                Ok(GetPromptResult {
                    description: None,
                    messages: vec![
                        PromptMessage::user(Content::image(PNG_1X1, "image/png")),
                        PromptMessage::user(Content::text("Please analyze the image above.")),
                    ],
                })
            },
        )
        .completion(|_ctx, req: CompleteRequest| async move {
            let options: &[&str] = match req.argument.name.as_str() {
                "arg1" | "arg2" => &["paris", "park", "party", "test"],
                _ => &[],
            };
            let values: Vec<String> = options.iter().filter(|o| o.starts_with(&req.argument.value)).map(|s| s.to_string()).collect();
            let total = values.len() as u64;
            Ok::<_, RpcError>(Completion { values, total: Some(total), has_more: Some(false) })
        })
        .build()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut port: u16 = 3000;
    let mut stdio = false;
    let mut stateless = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            "--stdio" => stdio = true,
            "--stateless" => stateless = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let server = build();
    if stdio {
        return widgetry::transport::serve_stdio(server).await;
    }
    let config = widgetry::HttpConfig::default().stateless(stateless);
    let (router, _state) = widgetry::transport::router(server, config);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/mcp");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    widgetry::serve(listener, router).await
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!("usage: conformance [--port N] [--stdio] [--stateless]");
    std::process::exit(2)
}
