// How a caller is described to the agent: channel, town or company, and extras.

/**
 * @param {{origin: string, label?: string, company?: {name: string, uscc: string,
 *          contact_name: string, contact_phone: string}|null}} who
 * @returns {{origin: string, label: string, extra: string[]}}
 */
export function describeCaller(i18n, who) {
  const origin = i18n.t(`origin.${who.origin}`);
  const company = who.company || null;
  const label = company?.name || who.label || "";
  const extra = [];
  if (company) {
    if (company.uscc) extra.push(`${i18n.t("incoming.uscc")} ${company.uscc}`);
    if (company.contact_name || company.contact_phone) {
      extra.push(`${i18n.t("incoming.contact")} ${[company.contact_name, company.contact_phone].filter(Boolean).join(" ")}`);
    }
  }
  return { origin: origin.startsWith("origin.") ? who.origin : origin, label, extra };
}
