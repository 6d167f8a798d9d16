// Every text of the reviewers' inbox (/inbox), Simplified Chinese first and English.

const zh = "zh-CN";

function entries(table) {
  const out = {};
  for (const [key, [zhText, enText]] of Object.entries(table)) out[key] = { [zh]: zhText, en: enText };
  return out;
}

export const INBOX_STRINGS = entries({
  "app.title": ["部门审核", "Department review"],
  "app.subtitle": ["一窗通办 · 后台并联审批", "One-window service · parallel approval"],
  "skip.main": ["跳到待办任务", "Skip to the task"],
  "lang.switch": ["English", "中文"],

  "login.heading": ["审核人员登录", "Reviewer sign-in"],
  "login.intro": ["使用部门审核账号登录，处理本部门的待审核任务。", "Sign in with your department reviewer account to decide your department's tasks."],
  "login.username": ["账号", "Username"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Sign in"],
  "login.busy": ["正在登录…", "Signing in…"],
  "login.error.credentials": ["账号或密码错误，请重试。", "Wrong username or password. Please try again."],
  "login.error.network": ["无法连接服务器，请检查网络后重试。", "Cannot reach the server. Check the network and try again."],
  "login.error.expired": ["登录已失效，请重新登录。", "Your sign-in has expired. Please sign in again."],
  "login.error.missing": ["请输入账号和密码。", "Enter your username and password."],
  "login.footer": ["仅限部门审核人员使用", "Department reviewers only"],

  "refused.text": ["此页面仅供部门审核人员使用", "This page is for department reviewers only"],
  "refused.hint": ["请使用部门审核账号重新登录；坐席请使用坐席工作台。", "Sign in again with a department reviewer account; agents use the agent workspace."],
  "refused.console": ["前往坐席工作台", "Go to the agent workspace"],
  "refused.logout": ["换个账号登录", "Sign in with another account"],

  "header.logout": ["退出", "Sign out"],
  "header.who": ["{name} · {department}", "{name} · {department}"],
  "header.refreshed": ["{time} 已刷新", "Refreshed {time}"],
  "banner.offline": ["无法连接服务器，正在重试…", "Cannot reach the server; retrying…"],

  "list.title": ["待办任务", "Open tasks"],
  "list.refresh": ["立即刷新", "Refresh now"],
  "list.hint": ["最早提交的在最上面，每 5 秒自动刷新", "Oldest first; refreshed every 5 seconds"],
  "list.empty": ["本部门暂无待审核任务", "No open tasks for your department"],
  "list.age": ["已等待 {age}", "Waiting {age}"],
  "list.due": ["办结时限 {time}", "Due {time}"],
  "list.overdue": ["已超时", "Overdue"],
  "list.item.label": ["{number}，{matters}，{age}，{due}", "{number}, {matters}, {age}, {due}"],

  "task.pick": ["从左侧选择一个任务查看并审核", "Pick a task on the left to review it"],
  "task.loading": ["正在载入…", "Loading…"],
  "task.failed": ["任务载入失败：{reason}", "The task could not be loaded: {reason}"],
  "task.case": ["受理编号", "Case number"],
  "task.department": ["承办部门", "Department"],
  "task.matters": ["办理事项", "Matters"],
  "task.created": ["提交时间", "Submitted"],
  "task.due": ["办结时限", "Due"],
  "task.decided": ["审核时间", "Decided"],
  "task.reason": ["原因", "Reason"],
  "task.submission": ["{title} · 提交编号 {id}", "{title} · submission {id}"],
  "task.no_submissions": ["没有可显示的提交内容", "No submission to show"],
  "task.materials": ["材料", "Materials"],
  "task.material.open": ["打开原图：{name}", "Open the original: {name}"],
  "task.empty_value": ["（未填写）", "(empty)"],
  "task.yes": ["是", "Yes"],
  "task.no": ["否", "No"],

  "state.pending": ["待审核", "Pending"],
  "state.approved": ["已通过", "Approved"],
  "state.rejected": ["未通过", "Rejected"],
  "state.correction": ["需补正", "Correction requested"],

  "by.caller": ["客户填写", "Filled by the caller"],
  "by.agent": ["坐席填写", "Filled by the agent"],
  "by.prefill": ["身份证预填", "Prefilled from the ID card"],
  "by.reuse": ["沿用本次通话材料", "Reused from this call"],

  "decision.title": ["审核意见", "Decision"],
  "decision.reason": ["原因（退回补正或不予通过时必填）", "Reason (required to ask for a correction or to reject)"],
  "decision.approve": ["通过", "Approve"],
  "decision.correction": ["退回补正", "Ask for a correction"],
  "decision.reject": ["不予通过", "Reject"],
  "decision.busy": ["正在提交…", "Sending…"],
  "decision.reason_required": ["请填写原因，客户会看到它。", "Enter a reason; the caller will see it."],
  "decision.done.approve": ["已通过：{number} {matters}", "Approved: {number} {matters}"],
  "decision.done.correction": ["已退回补正：{number} {matters}", "Correction requested: {number} {matters}"],
  "decision.done.reject": ["已不予通过：{number} {matters}", "Rejected: {number} {matters}"],
  "decision.final": ["此任务已处理，不能再次审核。", "This task has been decided already."],
  "decision.failed": ["提交失败：{reason}", "Could not send the decision: {reason}"],
  "decision.forbidden": ["您无权审核此任务（不属于您的部门）。", "You may not decide this task (another department's)."],

  "time.seconds": ["{n} 秒", "{n} s"],
  "time.minutes": ["{n} 分钟", "{n} min"],
  "time.hours": ["{h} 小时 {m} 分钟", "{h} h {m} min"],
  "time.days": ["{d} 天 {h} 小时", "{d} d {h} h"],
});
