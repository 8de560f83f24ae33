import { querySuite } from "./testing/querySuite.ts";

// npm start keeps the read models in PGlite: the same queries, search included, answer the same there.
querySuite({ pglite: true });
