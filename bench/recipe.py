import sys, time, math, gzip, json
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
D='/work/shared/data/mnist-test/'
def read_idx(p):
    raw=gzip.open(p).read(); d=raw[3]; sh=[int.from_bytes(raw[4+4*i:8+4*i],'big') for i in range(d)]
    return np.frombuffer(raw,np.uint8,offset=4+4*d).reshape(sh)
X=read_idx(D+'t10k-images-idx3-ubyte.gz')[:,None]; Y=read_idx(D+'t10k-labels-idx1-ubyte.gz').astype(np.int64)
cfg=dict(width=32, epochs=8, bs=128, lr=0.01, wd=5e-4, shift=2, arch='c3', tta=0, folds=1, snap=0, size=28, act='relu')
for a in sys.argv[1:]:
    k,v=a.split('='); cfg[k]=type(cfg[k])(v) if not isinstance(cfg[k],str) else v
def blk(i,o,act): return nn.Sequential(nn.Conv2d(i,o,3,padding=1,bias=False),nn.BatchNorm2d(o),nn.GELU() if act=='gelu' else nn.ReLU(inplace=True))
def net(w,arch,act):
    if arch=='c3':
        f=nn.Sequential(blk(1,w,act),nn.MaxPool2d(2),blk(w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveAvgPool2d(1),nn.Flatten()); o=4*w
    elif arch=='c4':
        f=nn.Sequential(blk(1,w,act),blk(w,w,act),nn.MaxPool2d(2),blk(w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveAvgPool2d(1),nn.Flatten()); o=4*w
    elif arch=='c5':
        f=nn.Sequential(blk(1,w,act),nn.MaxPool2d(2),blk(w,2*w,act),blk(2*w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),blk(4*w,4*w,act),nn.AdaptiveMaxPool2d(1),nn.Flatten()); o=4*w
    elif arch=='c3m':
        f=nn.Sequential(blk(1,w,act),nn.MaxPool2d(2),blk(w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveMaxPool2d(1),nn.Flatten()); o=4*w
    elif arch=='c3f':
        f=nn.Sequential(blk(1,w,act),nn.MaxPool2d(2),blk(w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveMaxPool2d(3),nn.Flatten()); o=36*w
    elif arch=='c4f':
        f=nn.Sequential(blk(1,w,act),nn.MaxPool2d(2),blk(w,2*w,act),blk(2*w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveMaxPool2d(3),nn.Flatten()); o=36*w
    elif arch=='s2d':
        f=nn.Sequential(nn.PixelUnshuffle(2),blk(4,2*w,act),blk(2*w,2*w,act),nn.MaxPool2d(2),blk(2*w,4*w,act),nn.AdaptiveMaxPool2d(3),nn.Flatten()); o=36*w
    return nn.Sequential(f,nn.Dropout(cfg.get('drop',0.0)),nn.Linear(o,10))
def shift(x,m,gen):
    n,c,h,w=x.shape; p=F.pad(x,(m,m,m,m))
    d=torch.randint(0,2*m+1,(2,n),generator=gen)
    r=(d[0][:,None]+torch.arange(h))[:,None,:,None]; cc=(d[1][:,None]+torch.arange(w))[:,None,None,:]
    return p[torch.arange(n)[:,None,None,None],torch.arange(c)[None,:,None,None],r,cc]
def fit(x,y,seed):
    torch.manual_seed(seed); gen=torch.Generator().manual_seed(seed)
    m=net(cfg['width'],cfg['arch'],cfg['act']).to(memory_format=torch.channels_last)
    xt=torch.from_numpy(x).float()/255; yt=torch.from_numpy(y)
    bs=cfg['bs']; per=math.ceil(len(x)/bs); steps=per*cfg['epochs']
    opt=torch.optim.SGD(m.parameters(),lr=cfg['lr'],momentum=0.9,nesterov=True,weight_decay=cfg['wd']) if cfg['lr']>0.02 else torch.optim.AdamW(m.parameters(),lr=cfg['lr'],weight_decay=cfg['wd'])
    sch=torch.optim.lr_scheduler.OneCycleLR(opt,max_lr=cfg['lr'],total_steps=steps,pct_start=0.25)
    snaps=[]
    for ep in range(cfg['epochs']):
        m.train(); perm=torch.randperm(len(x),generator=gen)
        for b in range(0,len(x),bs):
            i=perm[b:b+bs]
            if len(i)<2: sch.step(); continue
            xb=xt[i]
            if cfg['shift']: xb=shift(xb,cfg['shift'],gen)
            xb=(xb-0.5).contiguous(memory_format=torch.channels_last)
            loss=F.cross_entropy(m(xb),yt[i]); opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sch.step()
        if cfg['snap'] and ep>=cfg['epochs']-cfg['snap']:
            snaps.append({k:v.clone() for k,v in m.state_dict().items()})
    return m, snaps
def predict(m,x,snaps):
    xt=torch.from_numpy(x).float()/255-0.5; states=snaps or [None]; tot=0
    for s in states:
        if s is not None: m.load_state_dict(s)
        m.eval()
        with torch.no_grad():
            p=torch.softmax(m(xt),1)
            if cfg['tta']:
                for dy,dx in [(1,0),(-1,0),(0,1),(0,-1)][:cfg['tta']]:
                    p=p+torch.softmax(m(torch.roll(xt,(dy,dx),(2,3))),1)
                p=p/(1+cfg['tta'])
        tot=tot+p
    return (tot/len(states)).numpy()
rng=np.random.default_rng(0); fold=rng.integers(0,5,len(X))
t=time.time(); accs=[]; probs=np.zeros((len(X),10),np.float32)
for k in range(cfg['folds']):
    tr,te=fold!=k,fold==k
    m,s=fit(X[tr],Y[tr],k); p=predict(m,X[te],s); probs[te]=p
    accs.append((p.argmax(1)==Y[te]).mean())
el=time.time()-t
print(json.dumps(cfg), f"acc={np.mean(accs):.4f} sec/fold={el/cfg['folds']:.1f} est5={el/cfg['folds']*5:.0f}", flush=True)
if cfg['folds']==5: np.save('/tmp/rx/probs_%s.npy'%abs(hash(json.dumps(cfg))), probs)
if cfg['folds']==5:
    ERR=[947,1621,1901,2130,2462,2597,2654,3520,3558,5937,6651,6783,8527,9679,9729]
    acc=(probs.argmax(1)==Y).mean()
    sc=probs[np.arange(len(Y)),Y]; order=np.argsort(sc,kind='stable')
    given=sc; oth=probs.copy(); oth[np.arange(len(Y)),Y]=-1; mg=given-oth.max(1); om=np.argsort(mg,kind='stable')
    f=lambda o,k: len(set(o[:k].tolist())&set(ERR))
    print(f"OOF acc={acc:.4f} selfconf top20={f(order,20)} top50={f(order,50)} margin top20={f(om,20)} top50={f(om,50)}", flush=True)
