import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { openApiDocument } from "../read-api/index.ts";

type Operation = { responses: Record<string, { content: { "application/json": { schema: object } } }> };
const doc = openApiDocument() as { paths: Record<string, Record<string, Operation>> };
const ajv = new Ajv2020({ strict: false, allErrors: true });
const compiled = new Map<string, ValidateFunction>();
const templates = Object.keys(doc.paths).map((t) => ({ t, re: new RegExp(`^${t.replace(/\{\w+\}/g, "[^/]+")}$`) }));

/** How many responses were checked, by operation, over the test run of this file. */
export const validated = new Map<string, number>();

/**
 * Throws unless an HTTP answer of the read API matches the OpenAPI document: the path is one of
 * its paths (or the document itself), the status is one it lists, and the body validates against
 * that status's schema.
 */
export function validateResponse(method: string, pathAndQuery: string, status: number, body: unknown): void {
  const path = pathAndQuery.split("?")[0]!;
  if (path === "/api/openapi.json") return;
  const template = templates
    .filter((x) => x.re.test(path))
    .sort((a, b) => literalSegments(b.t) - literalSegments(a.t))[0]?.t;
  if (template === undefined) {
    if (status === 404 && isErrorBody(body)) return;
    throw new Error(`${method} ${path}: not a path of the OpenAPI document (answered ${status})`);
  }
  const op = doc.paths[template]![method.toLowerCase()];
  if (op === undefined) {
    if (status === 405 && isErrorBody(body)) return;
    throw new Error(`${method} ${template}: not an operation of the OpenAPI document`);
  }
  const response = op.responses[String(status)];
  if (response === undefined)
    throw new Error(`${method} ${template}: status ${status} is not in the OpenAPI document: ${JSON.stringify(body)}`);
  const key = `${method} ${template} ${status}`;
  let validate = compiled.get(key);
  if (validate === undefined) compiled.set(key, (validate = ajv.compile(response.content["application/json"].schema)));
  if (!validate(body))
    throw new Error(
      `${key}: the body does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
    );
  validated.set(`${method} ${template}`, (validated.get(`${method} ${template}`) ?? 0) + 1);
}

/**
 * Throws unless a NATS query's answer matches the OpenAPI document: `{ ok: true, result }` with the
 * result as the HTTP operation of the same query answers it, or `{ ok: false, error }` shaped as
 * its error body.
 */
export function validateNatsAnswer(query: string, answer: unknown): void {
  const a = answer as { ok?: unknown; result?: unknown; error?: unknown };
  const op = operations.get(query);
  if (op === undefined) {
    if (a.ok === false && isErrorBody(a)) return;
    throw new Error(`q.${query}: no operation of the OpenAPI document answers this query`);
  }
  const [key, response] =
    a.ok === true ? [`nats ${query} 200`, op.responses["200"]!] : [`nats ${query} error`, op.responses["400"]!];
  const body = a.ok === true ? a.result : { error: a.error };
  let validate = compiled.get(key);
  if (validate === undefined) compiled.set(key, (validate = ajv.compile(response.content["application/json"].schema)));
  if (typeof a.ok !== "boolean" || !validate(body))
    throw new Error(
      `${key}: the answer does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer).slice(0, 500)}`,
    );
  validated.set(`nats ${query}`, (validated.get(`nats ${query}`) ?? 0) + 1);
}

/** Each operation by its query name (operationId). */
const operations = new Map(
  Object.values(doc.paths).flatMap((methods) =>
    Object.values(methods).map((op) => [(op as Operation & { operationId: string }).operationId, op] as const),
  ),
);

const literalSegments = (t: string) => t.split("/").filter((s) => !s.startsWith("{")).length;
const isErrorBody = (b: unknown) => typeof b === "object" && b !== null && "error" in b;
