import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { findNatsServerBinary } from "../streams/natsServer.ts";

declare module "vitest" {
  export interface ProvidedContext {
    natsServerBinary: string;
  }
}

/** Obtains the nats-server binary once per run; each test file starts its own server with it. */
export default async function setup(project: TestProject): Promise<void> {
  const binary = await findNatsServerBinary();
  project.provide("natsServerBinary", binary);
}
