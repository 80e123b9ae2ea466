// Convert one CSDL document (XML or JSON, on stdin) to OpenAPI 3 with the OASIS TC's
// odata-openapi library and print {"openapi": ..., "messages": [...]} as JSON.
// Arguments: scheme host basePath [openapiVersion, default the library's 3.0.0; 3.1.0 gives schemas
// that are JSON Schema 2020-12]. Used by tests/web/test_metadata_openapi.py.
"use strict";
const { csdl2openapi } = require("odata-openapi");
const { xml2json } = require("odata-csdl");

const [scheme, host, basePath, openapiVersion] = process.argv.slice(2);
const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const text = Buffer.concat(chunks).toString("utf8");
  const csdl = text.trimStart().startsWith("<") ? xml2json(text) : JSON.parse(text);
  const messages = [];
  const openapi = csdl2openapi(csdl, { scheme, host, basePath, messages, ...(openapiVersion ? { openapiVersion } : {}) });
  process.stdout.write(JSON.stringify({ openapi, messages }));
});
