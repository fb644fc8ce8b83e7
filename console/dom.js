// @ts-check
/**
 * DOM building for the console. Strings become text nodes, never markup, so an id or a server
 * message cannot turn into an element; styles go through the CSSOM, which the Content-Security-
 * Policy (console/_headers: no inline style) allows.
 */

/** @typedef {Node | string | number | null | undefined | false | readonly any[]} Child (arrays nest) */
/**
 * @typedef {Record<string, string | number | boolean | null | undefined | Partial<CSSStyleDeclaration> |
 * EventListener>} Attrs
 */

/**
 * An HTML element: `h("td", { class: "muted" }, task.id)`. Attributes that are null, undefined or
 * false are left out, true sets an empty one; `style` takes an object; `on<event>` a listener.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Attrs | null} [attrs] @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/**
 * An SVG element, as `h` builds HTML ones.
 * @param {string} tag @param {Attrs | null} [attrs] @param {...Child} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs, ...children) {
  return build(
    /** @type {SVGElement} */ (document.createElementNS("http://www.w3.org/2000/svg", tag)),
    attrs,
    children,
  );
}

/**
 * @template {HTMLElement | SVGElement} E
 * @param {E} element @param {Attrs | null | undefined} attrs @param {Child[]} children
 * @returns {E}
 */
function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "style") Object.assign(element.style, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false)
      element.append(typeof child === "object" ? /** @type {Node} */ (child) : String(child));
  }
  return element;
}

/** A muted paragraph: loading notes, empty states, errors. @param {...Child} text */
export const note = (...text) => h("p", { class: "muted" }, ...text);
