import DOMPurify, { type Config, type DOMPurify as Purifier } from "dompurify";
import { Marked, type RendererObject, type TokenizerObject, type Tokens } from "marked";

/**
 * Safe rendering of a chat message body: a small Markdown subset through marked, then DOMPurify
 * with a strict allow-list as a second wall.
 *
 * The subset: **bold**, *italic*, `code`, fenced code blocks, links whose scheme is http, https or
 * mailto ([text](url), <url> and bare URLs/e-mail addresses), ordered and unordered lists, block
 * quotes, paragraphs and line breaks (a single newline is a line break). Everything else shows as
 * the text that was typed: raw HTML (escaped), images, headings, tables, rules, strikethrough,
 * task boxes, indented code, reference links and their definitions, and links to any other
 * scheme or to a relative address.
 */

/** The elements the output may contain. */
export const ALLOWED_TAGS = [
  "p",
  "br",
  "strong",
  "em",
  "code",
  "pre",
  "a",
  "ul",
  "ol",
  "li",
  "blockquote",
  "span",
] as const;

/**
 * The attributes the output may contain, and where: on `a`, `href` (http, https or mailto only)
 * with `rel="noopener noreferrer nofollow"` and `target="_blank"`; `class` on `span` (`mention`)
 * and on `code` (`language-…` of a fenced block); `start` on `ol` (a number, so a list written
 * from "3." still counts from 3).
 */
export const ALLOWED_ATTRIBUTES = ["href", "rel", "target", "class", "start"] as const;

/** The URL schemes a link may have (as `URL.protocol` spells them). */
export const ALLOWED_PROTOCOLS: ReadonlySet<string> = new Set(["http:", "https:", "mailto:"]);

/** The rel of every rendered link. */
export const LINK_REL = "noopener noreferrer nofollow";

/** What the renderer needs to know about the room the message is shown in. */
export interface RenderOptions {
  /** Whether `@name` (given without the `@`) names someone who should be highlighted. */
  isMention(name: string): boolean;
}

/**
 * A mention candidate: `@` then a name of letters, digits, `_`, `.` and `-` (not ending in `.` or
 * `-`, so "@bob." at the end of a sentence is "bob"), not preceded by a name character or `@`
 * (so the `@` of "alice@example.com" is not one).
 */
const MENTION = /(?<![\p{L}\p{N}_.@+-])@([\p{L}\p{N}_](?:[\p{L}\p{N}_.-]*[\p{L}\p{N}_])?)/gu;

/**
 * The names after each `@` in a body that could be a mention, in order, with repeats, code
 * included (whether a name really is a mention is the caller's `isMention`).
 *
 * @example mentionCandidates("hi @bob, mail alice@example.com") // ["bob"]
 */
export function mentionCandidates(body: string): string[] {
  return Array.from(body.matchAll(MENTION), (m) => m[1] ?? "");
}

const CODE_LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;
const CODE_CLASS = /^language-[A-Za-z0-9_+#.-]{1,32}$/;
const LIST_START = /^\d{1,9}$/;

const ESCAPE_ALL = /[&<>"']/g;
// Text keeps an `&` that starts a character reference (as marked does): the browser turns it into
// a character, never into markup.
const ESCAPE_TEXT = /[<>"']|&(?!(?:#\d{1,7}|#[Xx][a-fA-F0-9]{1,6}|\w+);)/g;
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeChar = (c: string): string => ESCAPES[c] ?? c;

/** Escapes every HTML-special character, for attribute values and text shown verbatim. */
function escapeAll(s: string): string {
  return s.replace(ESCAPE_ALL, escapeChar);
}

const NAMED_REFERENCES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  colon: ":",
  sol: "/",
  lpar: "(",
  rpar: ")",
  period: ".",
  comma: ",",
  semi: ";",
  equals: "=",
  num: "#",
  quest: "?",
  percnt: "%",
  Tab: "\t",
  NewLine: "\n",
  nbsp: "\u00a0",
};

/**
 * The character references of a link destination decoded (numeric ones and the named ones a URL
 * plausibly holds; an unknown one stays as written and is then escaped, so it cannot decode in the
 * browser either). What this returns is exactly the string the `href` attribute will hold.
 */
function decodeReferences(s: string): string {
  return s.replace(
    /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z]{2,8}));/g,
    (ref, dec?: string, hex?: string, name?: string) => {
      if (name !== undefined) return NAMED_REFERENCES[name] ?? ref;
      const code = dec === undefined ? Number.parseInt(hex ?? "", 16) : Number.parseInt(dec, 10);
      return code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)
        ? "\ufffd"
        : String.fromCodePoint(code);
    },
  );
}

/**
 * The normalized absolute URL a link may point to, or null. The URL parser is the browser's own
 * (it strips the tabs, newlines and control characters of "jav&#x09;ascript:" the same way), so
 * the scheme checked is the scheme a click would use; relative addresses have none and are refused.
 *
 * @example safeHref("HTTPS://example.com") // "https://example.com/"
 * @example safeHref("javascript:alert(1)") // null
 */
export function safeHref(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  return ALLOWED_PROTOCOLS.has(url.protocol) ? url.href : null;
}

// The mentions of the message being rendered (marked renders synchronously, one message at a time).
const NO_MENTIONS: ReadonlySet<string> = new Set();
let mentions = NO_MENTIONS;

function renderText(text: string): string {
  let out = "";
  let last = 0;
  for (const m of text.matchAll(MENTION)) {
    const name = m[1] ?? "";
    if (!mentions.has(name)) continue;
    out += text.slice(last, m.index).replace(ESCAPE_TEXT, escapeChar);
    out += `<span class="mention">@${escapeAll(name)}</span>`;
    last = m.index + m[0].length;
  }
  return out + text.slice(last).replace(ESCAPE_TEXT, escapeChar);
}

/** Shows a token exactly as it was typed. */
const asTyped = (token: { raw: string }): string => escapeAll(token.raw);
const asTypedParagraph = (token: { raw: string }): string => `<p>${escapeAll(token.raw.trim())}</p>\n`;

// Block and inline constructs outside the subset are not recognized at all, so what they match
// stays ordinary text (a tokenizer returning undefined does not match; false would fall back).
const off = (): undefined => undefined;
const tokenizer: TokenizerObject = {
  code: off, // indented code: only fenced blocks are in the subset
  heading: off,
  lheading: off,
  hr: off,
  html: off,
  def: off,
  table: off,
  tag: off,
  del: off,
};

// The renderer emits only allowed markup; the constructs switched off above are still given a
// verbatim rendering in case a future marked produces their tokens another way.
const renderer: RendererObject = {
  code(token: Tokens.Code): string {
    const lang = (token.lang ?? "").trim().split(/\s/)[0] ?? "";
    const cls = CODE_LANGUAGE.test(lang) ? ` class="language-${escapeAll(lang)}"` : "";
    const text = token.text ? token.text.replace(/\n$/, "") + "\n" : "";
    return `<pre><code${cls}>${escapeAll(text)}</code></pre>\n`;
  },
  html: (token: Tokens.HTML | Tokens.Tag): string => (token.block ? asTypedParagraph(token) : asTyped(token)),
  def: asTypedParagraph,
  heading: asTypedParagraph,
  hr: asTypedParagraph,
  table: asTypedParagraph,
  del: asTyped,
  checkbox: asTyped,
  image: asTyped,
  codespan(token: Tokens.Codespan): string {
    return `<code>${escapeAll(token.text)}</code>`;
  },
  link(token: Tokens.Link): string {
    // An autolink's destination and text are literal: character references are not resolved there.
    const href = safeHref(token.autolink ? token.href : decodeReferences(token.href));
    if (href === null) return escapeAll(token.raw);
    const text = token.autolink ? escapeAll(token.text) : this.parser.parseInline(token.tokens);
    return `<a href="${escapeAll(href)}" rel="${LINK_REL}" target="_blank">${text}</a>`;
  },
  text(token: Tokens.Text | Tokens.Escape): string {
    if ("tokens" in token && token.tokens) return this.parser.parseInline(token.tokens);
    return renderText(token.text);
  },
};

const marked = new Marked({
  async: false,
  gfm: true,
  breaks: true,
  pedantic: false,
  silent: false,
  tokenizer,
  renderer,
});

const PURIFY_CONFIG: Config = {
  ALLOWED_TAGS: [...ALLOWED_TAGS],
  ALLOWED_ATTR: [...ALLOWED_ATTRIBUTES],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
  ALLOW_SELF_CLOSE_IN_ATTR: false,
  SAFE_FOR_XML: true,
  KEEP_CONTENT: true,
  RETURN_DOM: false,
  RETURN_DOM_FRAGMENT: false,
  RETURN_TRUSTED_TYPE: false,
};

function attributeAllowed(element: Element, name: string, value: string): boolean {
  switch (`${element.nodeName.toLowerCase()} ${name}`) {
    case "a href":
      return safeHref(value) !== null;
    case "a rel":
      return value === LINK_REL;
    case "a target":
      return value === "_blank";
    case "span class":
      return value === "mention";
    case "code class":
      return CODE_CLASS.test(value);
    case "ol start":
      return LIST_START.test(value);
    default:
      return false;
  }
}

// What the sanitizer must make of SELF_TEST_IN where it works: `isSupported` is not enough, since
// under happy-dom DOMPurify claims support yet returns its input largely unsanitized. The sample
// holds no event handler attribute: Chromium checks a handler against the page's CSP as soon as it
// is parsed, even into DOMPurify's inert document, and reports each one as a violation. An element
// and an attribute outside the allow-list, a class the hook refuses, a javascript: link and a link
// the hook completes tell a working sanitizer from one that is not just as well.
const SELF_TEST_IN =
  '<p>x<u title="t">y</u><span class="z">z</span><a href="javascript:1" id="q">q</a><a href="https://example.com/">w</a></p>';
const SELF_TEST_OUT = `<p>xy<span>z</span><a>q</a><a href="https://example.com/" rel="${LINK_REL}" target="_blank">w</a></p>`;

let purifier: Purifier | null | undefined;

/**
 * This module's own DOMPurify (its hooks stay off the shared default instance), or null where
 * there is no DOM or DOMPurify does not work in it.
 */
function getPurifier(): Purifier | null {
  if (purifier !== undefined) return purifier;
  if (typeof window === "undefined") return (purifier = null);
  const p = DOMPurify(window);
  if (!p.isSupported) return (purifier = null);
  p.addHook("uponSanitizeAttribute", (element, event) => {
    if (!attributeAllowed(element, event.attrName, event.attrValue)) event.keepAttr = false;
  });
  p.addHook("afterSanitizeAttributes", (element) => {
    if (element.nodeName.toLowerCase() !== "a") return;
    if (element.hasAttribute("href")) {
      element.setAttribute("rel", LINK_REL);
      element.setAttribute("target", "_blank");
    } else {
      element.removeAttribute("rel");
      element.removeAttribute("target");
    }
  });
  return (purifier = p.sanitize(SELF_TEST_IN, PURIFY_CONFIG) === SELF_TEST_OUT ? p : null);
}

/**
 * Whether the second wall (DOMPurify) is in use. It is in browsers; where it is not (no DOM, or a
 * DOM DOMPurify does not work in, such as happy-dom), `renderMarkdown` returns the first wall's
 * output, which is safe by construction.
 */
export function sanitizerActive(): boolean {
  return getPurifier() !== null;
}

/**
 * The first wall alone: marked with the subset's tokenizer and renderer, whose output is escaped
 * by construction (only the allowed tags are ever written, every text and attribute value escaped).
 * Exported for tests; put `renderMarkdown` into the DOM, which also runs the sanitizer.
 * Links come out as `<a href="…" rel="noopener noreferrer nofollow" target="_blank">`.
 *
 * @example markdownHtml("hi @bob", new Set(["bob"])) // '<p>hi <span class="mention">@bob</span></p>\n'
 */
export function markdownHtml(body: string, mentionNames: ReadonlySet<string> = NO_MENTIONS): string {
  mentions = mentionNames;
  try {
    return marked.parse(body, { async: false });
  } catch {
    return `<p>${escapeAll(body)}</p>\n`;
  } finally {
    mentions = NO_MENTIONS;
  }
}

function renderUncached(body: string, mentionNames: ReadonlySet<string>): string {
  const html = markdownHtml(body, mentionNames);
  const purify = getPurifier();
  return purify === null ? html : purify.sanitize(html, PURIFY_CONFIG);
}

const CACHE_ENTRIES = 2000;
// Bodies run to 8,000 characters: bound the characters held too, not only the entries.
const CACHE_CHARS = 4_000_000;
const cache = new Map<string, string>();
let cachedChars = 0;

/**
 * The safe HTML of a message body, for `innerHTML`. Only the Markdown subset above becomes markup;
 * `@name` outside code becomes `<span class="mention">@name</span>` where `options.isMention(name)`.
 * Results are memoized (the last 2,000 bodies, keyed with the mentions they contain, so a change of
 * who counts as a mention is seen at once).
 *
 * @example renderMarkdown("**hi** @bob", { isMention: (n) => n === "bob" })
 * // '<p><strong>hi</strong> <span class="mention">@bob</span></p>\n'
 */
export function renderMarkdown(body: string, options: RenderOptions): string {
  const names = new Set([...new Set(mentionCandidates(body))].filter((name) => options.isMention(name)));
  const key = `${body.length}:${body}${[...names].join("\u0000")}`;
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const html = renderUncached(body, names);
  cache.set(key, html);
  cachedChars += key.length + html.length;
  for (const [oldKey, oldHtml] of cache) {
    if (cache.size <= CACHE_ENTRIES && cachedChars <= CACHE_CHARS) break;
    cache.delete(oldKey);
    cachedChars -= oldKey.length + oldHtml.length;
  }
  return html;
}
