// The thresholds in force for a comment, computed the way the service does
// (moderation/guidelines.py): overrides whose article tags meet the comment's
// tags replace a rule's values, then for the classifier the exact name, then
// its family (before ":"), then the rule's plain value. An absent key falls
// back; a null disables the threshold.

function has(object, key) {
  return object !== null && typeof object === "object" && Object.hasOwn(object, key);
}

function applyOverride(rule, change) {
  const classifiers = { ...(rule.classifiers || {}) };
  for (const [name, specific] of Object.entries(change.classifiers || {})) {
    const next = { ...(classifiers[name] || {}) };
    if (has(specific, "hold_at")) next.hold_at = specific.hold_at;
    if (has(specific, "reject_at")) next.reject_at = specific.reject_at;
    classifiers[name] = next;
  }
  return {
    ...rule,
    hold_at: has(change, "hold_at") ? change.hold_at : rule.hold_at,
    reject_at: has(change, "reject_at") ? change.reject_at : rule.reject_at,
    classifiers,
  };
}

/** The guidelines' rules with every override matching ``tags`` applied. */
export function rulesForTags(guidelines, tags = []) {
  const rules = Array.isArray(guidelines && guidelines.rules) ? guidelines.rules : [];
  const wanted = new Set(tags.map((tag) => String(tag).toLowerCase()));
  const byId = new Map(rules.map((rule) => [rule.id, rule]));
  for (const override of guidelines.overrides || []) {
    const matches = (override.article_tags || []).some((tag) => wanted.has(String(tag).toLowerCase()));
    if (!matches) continue;
    for (const change of override.rules || []) {
      const base = byId.get(change.id);
      if (base) byId.set(change.id, applyOverride(base, change));
    }
  }
  return rules.map((rule) => byId.get(rule.id));
}

/** ``{hold, reject}`` of one rule for ``classifier`` (null = no such line). */
export function ruleThresholds(rule, classifier) {
  let hold;
  let reject;
  const name = String(classifier || "");
  const family = name.split(":", 1)[0];
  for (const key of [name, family]) {
    const specific = rule.classifiers && rule.classifiers[key];
    if (!specific) continue;
    if (hold === undefined && has(specific, "hold_at")) hold = specific.hold_at;
    if (reject === undefined && has(specific, "reject_at")) reject = specific.reject_at;
  }
  return {
    hold: hold === undefined ? (rule.hold_at ?? null) : hold,
    reject: reject === undefined ? (rule.reject_at ?? null) : reject,
  };
}

/**
 * Per category, the lowest hold and reject lines of the rules on it, for a
 * comment with ``tags`` scored by ``classifier``.
 */
export function thresholdsFromGuidelines(guidelines, classifier, tags = []) {
  const result = {};
  for (const rule of rulesForTags(guidelines, tags)) {
    const { hold, reject } = ruleThresholds(rule, classifier);
    const entry = result[rule.category] || { hold: null, reject: null };
    if (typeof hold === "number" && (entry.hold === null || hold < entry.hold)) entry.hold = hold;
    if (typeof reject === "number" && (entry.reject === null || reject < entry.reject)) entry.reject = reject;
    result[rule.category] = entry;
  }
  return result;
}

/** What a decision's reasons tell about the lines (all a moderator key can see). */
export function thresholdsFromReasons(reasons = []) {
  const result = {};
  for (const reason of reasons) {
    if (!reason.category || typeof reason.threshold !== "number") continue;
    const entry = result[reason.category] || { hold: null, reject: null };
    if (reason.action === "reject") entry.reject = reason.threshold;
    else entry.hold = reason.threshold;
    result[reason.category] = entry;
  }
  return result;
}
