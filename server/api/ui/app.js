// The dashboard's entry point: starts the live data (live.js) and shows one view at a time,
// chosen by the URL's fragment, so that every view has an address and the back button works
// without the server knowing any route but /ui:
//
//   #/                overview        #/job/ID        one job
//   #/jobs?state=&kind=&cursor=       #/submit?kind=  the submit form
import { forgetToken, storedToken } from './api.js';
import { setText } from './dom.js';
import { onStreamStatus, startEventStream, startMetrics } from './live.js';
import { jobView } from './views/job.js';
import { jobsView } from './views/jobs.js';
import { overviewView } from './views/overview.js';
import { submitView } from './views/submit.js';

const view = document.getElementById('view');
let leave = () => {};

function route() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  leave();
  view.replaceChildren();
  let section = parts[0] ?? 'overview';
  if (section === 'jobs') leave = jobsView(view, params);
  else if (section === 'job' && parts[1]) leave = jobView(view, decodeURIComponent(parts[1]));
  else if (section === 'submit') leave = submitView(view, params);
  else {
    section = 'overview';
    leave = overviewView(view);
  }
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle(
      'active',
      link.dataset.nav === section || (section === 'job' && link.dataset.nav === 'jobs'),
    );
  }
  document.title = `jobd · ${section}`;
}

function showTokenState() {
  document.getElementById('forget-token').hidden = !storedToken();
}

const status = document.getElementById('stream-status');
onStreamStatus((stream) => {
  setText(status, stream.status === 'live' ? `live · ${stream.rate} events/s` : stream.status);
  status.className = `stream ${stream.status === 'live' ? 'up' : 'down'}`;
  status.title = `${stream.received} events received, ${stream.dropped} dropped`;
});

document.getElementById('forget-token').addEventListener('click', () => {
  forgetToken();
  location.reload();
});
document.addEventListener('jobd-token', showTokenState);
window.addEventListener('hashchange', route);

showTokenState();
route();
startEventStream();
startMetrics();
