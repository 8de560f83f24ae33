import { querySuite } from "./testing/querySuite.ts";

querySuite({ pglite: false });
