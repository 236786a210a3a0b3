// Building DOM safely. Data only ever becomes text nodes or whitelisted,
// non-executable attributes: there is no innerHTML anywhere in this page,
// no href/src/style/on* attribute built from data.

const SAFE_ATTRIBUTE =
  /^(id|type|for|name|role|tabindex|title|value|min|max|step|placeholder|autocomplete|disabled|hidden|checked|selected|colspan|rowspan|scope|datetime|rows|cols|maxlength|inputmode|spellcheck|lang|dir|open|aria-[a-z]+|data-[a-z][a-z0-9-]*)$/;

const SVG_NS = "http://www.w3.org/2000/svg";
const SAFE_SVG_ATTRIBUTE =
  /^(class|x|y|x1|x2|y1|y2|width|height|rx|viewBox|preserveAspectRatio|focusable|role|vector-effect|aria-[a-z]+)$/;

function setAttributes(element, props, allowed) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") {
      element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "text") {
      element.textContent = String(value);
    } else if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (allowed.test(name)) {
      element.setAttribute(name, value === true ? "" : String(value));
    } else {
      throw new Error(`refusing to set attribute ${name}`);
    }
  }
}

/** Append children: strings and numbers become text nodes; arrays are flattened. */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** ``h("p", {class: "x"}, "text", h("b", {}, data))`` */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, props, SAFE_ATTRIBUTE);
  return append(element, ...children);
}

export function svg(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, props, SAFE_SVG_ATTRIBUTE);
  for (const child of children.flat()) if (child) element.append(child);
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element;
}

/** True when a key press belongs to a text field (shortcuts stay out of the way). */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  return !["button", "checkbox", "radio", "submit", "reset"].includes(target.type);
}
