// The page's bootstrap of GET /api/meta: the run tables' columns and the table of actions.
export const META = JSON.parse(document.getElementById("meta").textContent);
const ACTIONS = new Map(META.actions.map((a) => [a.name, a]));

// Fill a table cell with an action's label; its description is the tooltip.
export function actionCell(td, name) {
  const action = ACTIONS.get(name);
  td.textContent = action ? action.label : name;
  td.title = action ? action.description : "";
  td.dataset.action = name;
}
