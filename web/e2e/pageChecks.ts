/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/*
 * Checks that run inside the page (page.evaluate): what has keyboard focus, colour contrast, and
 * horizontal overflow. Each function is sent to the browser as its source text, so it must stand
 * alone: no imports, nothing from this module's scope. (The DOM types above are for this file's
 * in-page code; the Node side of the tests never touches them.)
 */

/** The element with keyboard focus, as the tests compare it. */
export type Focused = {
  /** `tag#id.class[data-testid]`, or `body` when nothing has focus. */
  what: string;
  testId: string | null;
  label: string | null;
  text: string;
  messageId: string | null;
  roomId: string | null;
  /** The data-testid of the dialog it is in, if any. */
  dialog: string | null;
  /** Inside a message's actions toolbar. */
  inToolbar: boolean;
  ariaCurrent: string | null;
};

/** What has keyboard focus now (in the page). */
export function focusedElement(): Focused {
  const el = document.activeElement as HTMLElement | null;
  if (el === null || el === document.body || el === document.documentElement) {
    return {
      what: "body",
      testId: null,
      label: null,
      text: "",
      messageId: null,
      roomId: null,
      dialog: null,
      inToolbar: false,
      ariaCurrent: null,
    };
  }
  const cls = [...el.classList].map((c) => `.${c}`).join("");
  const testId = el.getAttribute("data-testid");
  return {
    what: `${el.tagName.toLowerCase()}${el.id === "" ? "" : `#${el.id}`}${cls}${testId === null ? "" : `[${testId}]`}`,
    testId,
    label: el.getAttribute("aria-label"),
    text: (el.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 80),
    messageId: el.getAttribute("data-message-id"),
    roomId: el.getAttribute("data-room-id"),
    dialog: el.closest("dialog")?.getAttribute("data-testid") ?? null,
    inToolbar: el.closest('[role="toolbar"]') !== null,
    ariaCurrent: el.getAttribute("aria-current"),
  };
}

/** The outcome of {@link contrastReport}. */
export type ContrastReport = {
  /** How many pieces of text were measured. */
  checked: number;
  /** One line per piece of text below its threshold: element, text, colours, ratio. */
  failures: string[];
  /** Of the selectors the caller wants measured, those that matched no measured text. */
  uncovered: string[];
};

/**
 * WCAG 2.x contrast of every visible piece of text under `scope` (elements with text of their own,
 * and the values of text fields and selects) against its effective background: the first opaque
 * background-color among the element and its ancestors, with the translucent ones above it
 * composited on it, and the text's colour composited with the opacity of its ancestors. Normal
 * text needs 4.5:1, large text (24 px, or 18.66 px bold) 3:1.
 *
 * Exempt, as WCAG 1.4.3 says: text of disabled controls, placeholder text (never read here: it is
 * not in the DOM), text nobody sees (hidden, or clipped to a pixel for screen readers), and
 * colour emoji (their colours are the font's, not the page's).
 */
export function contrastReport(args: { scope: string; exclude?: string[]; mustCover?: string[] }): ContrastReport {
  type Rgba = [number, number, number, number];
  const parse = (css: string): Rgba => {
    const rgb = /^rgba?\(\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\s*\)$/.exec(css);
    if (rgb !== null)
      return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3]), rgb[4] === undefined ? 1 : Number(rgb[4])];
    const srgb = /^color\(srgb\s+([-\d.e]+)\s+([-\d.e]+)\s+([-\d.e]+)(?:\s*\/\s*([\d.]+))?\)$/.exec(css);
    if (srgb !== null)
      return [
        Number(srgb[1]) * 255,
        Number(srgb[2]) * 255,
        Number(srgb[3]) * 255,
        srgb[4] === undefined ? 1 : Number(srgb[4]),
      ];
    throw new Error(`contrastReport: a colour it cannot read: ${css}`);
  };
  const over = (top: Rgba, bottom: Rgba): Rgba => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const mix = (i: number) => (top[i]! * top[3] + bottom[i]! * bottom[3] * (1 - top[3])) / a;
    return [mix(0), mix(1), mix(2), a];
  };
  const luminance = (c: Rgba): number => {
    const lin = (v: number) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  };
  const show = (c: Rgba) =>
    `#${c
      .slice(0, 3)
      .map((v) => Math.round(v).toString(16).padStart(2, "0"))
      .join("")}`;
  const name = (el: Element): string => {
    const testId = el.getAttribute("data-testid");
    const cls = [...el.classList]
      .slice(0, 2)
      .map((c) => `.${c}`)
      .join("");
    return `${el.tagName.toLowerCase()}${cls}${testId === null ? "" : `[${testId}]`}`;
  };
  const path = (el: Element): string => {
    const parts: string[] = [];
    for (let at: Element | null = el; at !== null && parts.length < 3; at = at.parentElement) parts.push(name(at));
    return parts.reverse().join(" > ");
  };
  /** The background the element's text is drawn on, opaque. */
  const background = (el: Element): Rgba | string => {
    const layers: Rgba[] = [];
    for (let at: Element | null = el; at !== null; at = at.parentElement) {
      const style = getComputedStyle(at);
      if (style.backgroundImage !== "none")
        return `a background image on ${name(at)} (${style.backgroundImage.slice(0, 60)})`;
      const bg = parse(style.backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let result: Rgba = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const opacity = (el: Element): number => {
    let o = 1;
    for (let at: Element | null = el; at !== null; at = at.parentElement) o *= Number(getComputedStyle(at).opacity);
    return o;
  };
  const hiddenFromSight = (el: Element): boolean => {
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return true;
    // Clipped to a pixel or less by itself or an ancestor (how text is kept for screen readers only).
    for (let at: Element | null = el; at !== null; at = at.parentElement) {
      const style = getComputedStyle(at);
      const clips = style.overflow !== "visible" || style.clipPath !== "none" || style.clip !== "auto";
      const r = at.getBoundingClientRect();
      if (clips && (r.width <= 1 || r.height <= 1)) return true;
    }
    const r = el.getBoundingClientRect();
    return r.width === 0 || r.height === 0;
  };
  // Colour emoji (pictographs from U+1F000 on, or with emoji presentation) draw in their own colours.
  const emoji = /[\u{1F000}-\u{1FAFF}]|\p{Emoji_Presentation}|[\u{FE0F}\u{200D}\u{1F3FB}-\u{1F3FF}]/gu;

  const root = document.querySelector(args.scope);
  if (root === null) throw new Error(`contrastReport: nothing matches ${args.scope}`);
  const excluded = (el: Element) => (args.exclude ?? []).some((sel) => el.closest(sel) !== null);
  const failures: string[] = [];
  const measured: Element[] = [];
  for (const el of [root, ...root.querySelectorAll("*")]) {
    if (["SCRIPT", "STYLE", "OPTION", "TEMPLATE", "NOSCRIPT"].includes(el.tagName) || excluded(el)) continue;
    const field =
      el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement;
    let text = "";
    if (field) {
      if (el instanceof HTMLInputElement && ["checkbox", "radio", "hidden", "range", "color"].includes(el.type))
        continue;
      // A field's own text (its value); the placeholder shown while it is empty is exempt.
      text = el instanceof HTMLSelectElement ? (el.selectedOptions[0]?.textContent ?? "") : el.value;
    } else {
      for (const node of el.childNodes) if (node.nodeType === Node.TEXT_NODE) text += node.textContent ?? "";
    }
    text = text.replace(emoji, "").trim();
    if (text === "") continue;
    // Disabled controls are exempt (WCAG 1.4.3: "part of an inactive user interface component").
    if (el.closest(':disabled, [aria-disabled="true"]') !== null) continue;
    if (hiddenFromSight(el)) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    if (typeof bg === "string") {
      failures.push(`${path(el)} "${text.slice(0, 40)}": cannot tell its background: ${bg}`);
      continue;
    }
    const fgRaw = parse(style.color);
    const fg = over([fgRaw[0], fgRaw[1], fgRaw[2], fgRaw[3] * opacity(el)], bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a) as [number, number];
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    measured.push(el);
    if (ratio < needed) {
      failures.push(
        `${path(el)} "${text.slice(0, 40)}": ${show(fg)} on ${show(bg)} is ${ratio.toFixed(2)}:1, needs ${needed}:1 (${size}px, weight ${style.fontWeight})`,
      );
    }
  }
  const uncovered = (args.mustCover ?? []).filter(
    (sel) => !measured.some((el) => el.matches(sel) || el.closest(sel) !== null),
  );
  return { checked: measured.length, failures, uncovered };
}

/**
 * What sticks out sideways at this viewport: the document scrolling horizontally, any element
 * matching `wholly` that is wider than its box (scrollWidth > clientWidth) or reaches past the
 * viewport's left or right edge. Empty when the layout fits.
 */
export function horizontalOverflow(wholly: string[]): string[] {
  const problems: string[] = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth)
    problems.push(`the document scrolls sideways: scrollWidth ${doc.scrollWidth} > clientWidth ${doc.clientWidth}`);
  if (document.body.scrollWidth > document.body.clientWidth)
    problems.push(`the body is wider than the page: ${document.body.scrollWidth} > ${document.body.clientWidth}`);
  const width = window.innerWidth;
  for (const sel of wholly) {
    for (const el of document.querySelectorAll<HTMLElement>(sel)) {
      if (!el.checkVisibility({ visibilityProperty: true })) continue;
      const r = el.getBoundingClientRect();
      if (r.left < -0.5 || r.right > width + 0.5)
        problems.push(
          `${sel} spans ${Math.round(r.left)}..${Math.round(r.right)} px, outside the viewport's 0..${width}`,
        );
      if (el.scrollWidth > el.clientWidth + 1)
        problems.push(`${sel} overflows sideways: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
    }
  }
  return problems;
}
