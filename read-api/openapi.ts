import { z } from "zod";
import { ROUTES } from "./routes.ts";
import { ErrorBody, inputs, outputs } from "./schemas.ts";

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

const schemaOf = (s: z.ZodType, io: "input" | "output"): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
};

/**
 * The OpenAPI 3.1 document of the read API, generated from the zod schemas the handlers validate
 * with (read-api/schemas.ts) and the routes they answer on (read-api/routes.ts).
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { description: "refused", content: { "application/json": { schema: schemaOf(ErrorBody, "output") } } };
  for (const r of ROUTES) {
    const input = schemaOf(inputs[r.query], "input");
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const props = input.properties ?? {};
    const parameters = [
      ...pathParams.map((name) => ({ name, in: "path", required: true, schema: props[name] ?? { type: "string" } })),
      ...(r.method === "GET"
        ? Object.entries(props)
            .filter(([name]) => !pathParams.includes(name))
            .map(([name, schema]) => ({
              name,
              in: "query",
              required: (input.required ?? []).includes(name),
              schema,
              // Lists are comma-separated: userIds=a,b
              ...(schema["type"] === "array" ? { style: "form", explode: false } : {}),
            }))
        : []),
    ];
    const body =
      r.method === "POST"
        ? {
            requestBody: {
              required: true,
              content: {
                "application/json": {
                  schema: {
                    ...input,
                    properties: Object.fromEntries(Object.entries(props).filter(([n]) => !pathParams.includes(n))),
                    required: (input.required ?? []).filter((n) => !pathParams.includes(n)),
                  },
                },
              },
            },
          }
        : {};
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      operationId: r.query,
      summary: r.summary,
      security: [{ bearer: [] }],
      parameters,
      ...body,
      responses: {
        "200": {
          description: "the answer",
          content: { "application/json": { schema: schemaOf(outputs[r.query], "output") } },
        },
        "400": error,
        "401": error,
        "403": error,
        "404": error,
        "413": error,
        "414": error,
        "429": error,
        "503": error,
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "natter read API",
      version: "1",
      description:
        "Queries over natter's read models. Every query takes minSeq (read your writes); the same queries answer over NATS on q.<userId>.<query>.",
    },
    servers: [{ url: "/" }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    paths,
  };
}
