// Inline SVG icons (no fonts, no image files): 24x24 strokes in currentColor, so they
// follow the theme and elder mode. Matter icons are keyed by the catalog's `icon` field.

const PATHS = {
  water: '<path d="M12 3c-3.5 4.6-6 8-6 11a6 6 0 0 0 12 0c0-3-2.5-6.4-6-11z"/><path d="M9 15a3 3 0 0 0 3 3"/>',
  bolt: '<path d="M13 2 4 14h7l-1 8 9-12h-7z"/>',
  flame: '<path d="M12 22a7 7 0 0 0 7-7c0-4-3-6.5-4-10-2 2-3 4-3 6-1-1-2-2-2.5-3.5C7 9.5 5 12 5 15a7 7 0 0 0 7 7z"/><path d="M12 22a3 3 0 0 0 3-3c0-2-1.5-3-2-4.5-1.5 1-4 2.5-4 4.5a3 3 0 0 0 3 3z"/>',
  bus: '<rect x="4" y="3" width="16" height="15" rx="3"/><path d="M4 11h16M8 3v0M7 21v-3M17 21v-3"/><circle cx="8" cy="14.5" r="1"/><circle cx="16" cy="14.5" r="1"/><path d="M8 6h8"/>',
  card: '<rect x="2.5" y="5" width="19" height="14" rx="2"/><circle cx="8" cy="11" r="2"/><path d="M5 16c.6-1.6 1.7-2.2 3-2.2s2.4.6 3 2.2M14 10h5M14 13.5h4"/>',
  tv: '<rect x="3" y="6" width="18" height="12" rx="2"/><path d="m8 2 4 4 4-4M8 21h8"/>',
  tax: '<path d="M6 2h12v20l-3-2-3 2-3-2-3 2z"/><path d="m9 7 3 4 3-4M12 11v6M9.5 12.5h5M9.5 15h5"/>',
  shield: '<path d="M12 2 4 5v6c0 5 3.4 9.3 8 11 4.6-1.7 8-6 8-11V5z"/><path d="m8.5 12 2.5 2.5 4.5-5"/>',
  briefcase: '<rect x="3" y="7" width="18" height="13" rx="2"/><path d="M8 7V5a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2M3 13h18"/>',
  dots: '<circle cx="5" cy="12" r="1.6"/><circle cx="12" cy="12" r="1.6"/><circle cx="19" cy="12" r="1.6"/>',
  video: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="m15.5 10.5 6-3.5v10l-6-3.5z"/>',
  phone: '<path d="M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 3 5a2 2 0 0 1 2-2z"/>',
  hangup: '<path d="M3 14.5c5-5 13-5 18 0l-2.5 2.5-3.5-1.5v-3c-2.6-.8-4.4-.8-7 0v3L5.5 17z"/>',
  mic: '<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M5 10a7 7 0 0 0 14 0M12 17v4M8 21h8"/>',
  "mic-off": '<path d="M15 9.3V5a3 3 0 0 0-5.7-1.3M9 9v2a3 3 0 0 0 4.9 2.3M5 10a7 7 0 0 0 11.6 5.3M19 10a7 7 0 0 1-.7 3M12 17v4M8 21h8M3 3l18 18"/>',
  camera: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="m15.5 10.5 6-3.5v10l-6-3.5z"/>',
  "camera-off": '<path d="M10 6h3a2.5 2.5 0 0 1 2.5 2.5v3l6-3.5v10l-3.3-1.9M15.5 15.5A2.5 2.5 0 0 1 13 18H5a2.5 2.5 0 0 1-2.5-2.5v-7A2.5 2.5 0 0 1 5 6M3 3l18 18"/>',
  home: '<path d="M3 11 12 3l9 8M5 9.5V21h5v-6h4v6h5V9.5"/>',
  back: '<path d="M15 5l-7 7 7 7"/>',
  globe: '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3c2.6 2.8 3.8 5.8 3.8 9s-1.2 6.2-3.8 9c-2.6-2.8-3.8-5.8-3.8-9S9.4 5.8 12 3z"/>',
  "text-size": '<path d="M3 19 8 6l5 13M4.8 14.5h6.4M14 19l3.5-9 3.5 9M15.1 16.2h4.8"/>',
  check: '<circle cx="12" cy="12" r="9"/><path d="m7.5 12.5 3 3 6-6.5"/>',
  clock: '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3.5 2"/>',
  people: '<circle cx="9" cy="8" r="3.2"/><path d="M3 20c.6-3.6 3-5.5 6-5.5s5.4 1.9 6 5.5"/><circle cx="17" cy="9" r="2.5"/><path d="M16.5 14.6c2.3.2 4 1.8 4.5 5.4"/>',
  delete: '<path d="M8 5h12a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H8l-6-7z"/><path d="m11 9 6 6M17 9l-6 6"/>',
  touch: '<path d="M9 11V5.5a1.5 1.5 0 0 1 3 0V11M12 10V9a1.5 1.5 0 0 1 3 0v2M15 10.5a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-.5a6 6 0 0 1-4.8-2.4L3 16a1.5 1.5 0 0 1 2.4-1.8L9 17"/>',
  alert: '<path d="M12 3 2 20h20z"/><path d="M12 10v4M12 17v.5"/>',
  wifi: '<path d="M2 8.5a15 15 0 0 1 20 0M5 12a10 10 0 0 1 14 0M8.5 15.5a5 5 0 0 1 7 0"/><circle cx="12" cy="19" r="1.2"/>',
  user: '<circle cx="12" cy="8" r="4"/><path d="M4 21c1-4.5 4-7 8-7s7 2.5 8 7"/>',
};

// Faces for the 1-5 rating: mouth curve from frown to broad smile.
const MOUTHS = [
  "M8 17c2.2-2.6 5.8-2.6 8 0",
  "M8.5 16.5c2-1.4 5-1.4 7 0",
  "M8.5 15.5h7",
  "M8.5 14.5c2 1.6 5 1.6 7 0",
  "M7.5 14c2.4 3.4 6.6 3.4 9 0",
];

function svg(inner, { size = 24, label = "" } = {}) {
  const a11y = label ? `role="img" aria-label="${label}"` : 'aria-hidden="true" focusable="false"';
  return `<svg class="icon" viewBox="0 0 24 24" width="${size}" height="${size}" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" ${a11y}>${inner}</svg>`;
}

/** The SVG markup of a named icon (the "dots" icon for names we do not draw). */
export function icon(name, options = {}) {
  return svg(PATHS[name] || PATHS.dots, options);
}

/** A face for rating `score` (1-5). */
export function face(score, options = {}) {
  const mouth = MOUTHS[Math.min(5, Math.max(1, score)) - 1];
  return svg(`<circle cx="12" cy="12" r="9.5"/><circle cx="9" cy="10" r="1" fill="currentColor"/><circle cx="15" cy="10" r="1" fill="currentColor"/><path d="${mouth}"/>`, options);
}

/** Fill every `[data-icon]` placeholder under `root` with its icon. */
export function renderIcons(root = document) {
  for (const el of root.querySelectorAll("[data-icon]")) {
    if (!el.firstElementChild) el.innerHTML = icon(el.dataset.icon);
  }
}
