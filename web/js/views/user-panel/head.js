// The panel's head: its title (which labels the dialog) and the close button.

import { h, icon } from '/admin/js/dom.js';

export function panelHead(title, onClose) {
  const closeBtn = h('button', { type: 'button', class: 'btn btn-icon btn-ghost', 'aria-label': 'Close panel', id: 'panel-close' }, icon('close'));
  closeBtn.addEventListener('click', () => onClose());
  return h('div', { class: 'panel-head' },
    h('h2', { id: 'user-panel-title', class: 'panel-title', text: title }),
    closeBtn);
}
