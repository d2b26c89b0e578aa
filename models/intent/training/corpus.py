"""finfer's labelled corpus of Chinese customer-service messages, generated from handwritten templates.

Each intent has 30 sentence templates written for it and a list of key terms ({kw}) people use
for it. A message is a template filled with a key term, an amount ({amount}), a term ({term}), a
car or a bank, then roughened the way real chat is: openers and particles, homophone typos,
English words, terse forms. Templates are split between train, dev and test, so every test
sentence is a wording the model never saw; key terms and slot forms are vocabulary and are shared.

Out-of-scope chit-chat (label None) trains the model to be unsure off-topic, so that those
messages go to a person.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from finfer.models.intent.labels import INTENTS
from finfer.models.intent.slots import render_amount, render_ratio, render_term

KEY_TERMS: dict[str, tuple[str, ...]] = {
    "loan_apply": (
        "申请车贷",
        "办车贷",
        "贷款买车",
        "办理汽车贷款",
        "分期买车",
        "申请贷款",
        "做个车贷",
        "二手车贷款",
        "新车分期",
        "车贷申请",
        "买车分期",
        "按揭买车",
        "办个分期",
    ),
    "credit_limit": (
        "额度",
        "授信额度",
        "可用额度",
        "贷款额度",
        "信用额度",
        "提额",
        "临时额度",
        "剩余额度",
        "最高额度",
    ),
    "interest_rate": ("利率", "利息", "年化利率", "手续费", "费率", "年化", "总利息", "月利率", "服务费", "息费"),
    "repayment_query": (
        "还款日",
        "本月应还",
        "还款计划",
        "剩余期数",
        "月供",
        "账单",
        "还款记录",
        "还款明细",
        "这期还款",
        "扣款情况",
        "剩余本金",
        "还款金额",
    ),
    "early_repayment": (
        "提前还款",
        "提前还清",
        "提前结清",
        "一次性还清",
        "全部还完",
        "提前还贷",
        "提早还款",
        "提早还清",
        "部分提前还款",
        "一次还掉",
        "提前还一部分",
    ),
    "overdue_negotiation": (
        "逾期",
        "晚还几天",
        "延期还款",
        "还不上",
        "停息挂账",
        "协商还款",
        "宽限几天",
        "罚息减免",
        "困难减免",
        "还不起",
        "延期一个月",
    ),
    "change_card": (
        "换卡",
        "更换还款卡",
        "换绑银行卡",
        "修改扣款账户",
        "变更银行卡",
        "改绑卡",
        "换扣款卡",
        "绑定新卡",
        "解绑旧卡",
        "换还款账户",
    ),
    "mortgage_release": (
        "解押",
        "解除抵押",
        "车辆解押",
        "拿绿本",
        "取回登记证书",
        "解抵押",
        "绿本",
        "登记证书",
        "抵押解除",
        "注销抵押",
    ),
    "contract_invoice": (
        "合同",
        "贷款合同",
        "发票",
        "结清证明",
        "还款证明",
        "电子合同",
        "合同复印件",
        "增值税发票",
        "合同编号",
        "盖章合同",
    ),
    "insurance": ("车险", "保险", "续保", "理赔", "保单", "交强险", "商业险", "全险", "出险", "退保"),
    "complaint": (
        "投诉",
        "举报",
        "催收",
        "骚扰",
        "乱收费",
        "乱扣费",
        "服务态度差",
        "被骗",
        "暴力催收",
        "多扣钱",
        "态度恶劣",
    ),
    "human_agent": ("人工", "人工客服", "转人工", "真人", "客服", "活人", "客户经理", "人工服务", "真人客服"),
}
# Intent-neutral context that carries slots ("I borrowed 150k over 36 months, …").
CONTEXTS = (
    "我贷了{amount}，",
    "车贷{amount}，",
    "我是{term}的车贷，",
    "贷款{amount}分{term}，",
    "借了{amount}，{term}的，",
    "{term}的，",
)

# Slot wordings a tagger trained on CONTEXTS alone missed or misread on held-out messages, one class
# each (reported apart): an amount directly followed by a term ("借五万两年"), a term phrased as a
# deferral or a period ("缓两个月再还"), and ratios and percentages that are not amounts ("首付两成",
# "百分之三十"). Intent-neutral like CONTEXTS, and split by template like everything else.
SLOT_FRAMES: dict[str, tuple[str, ...]] = {
    "amount_then_term": (
        "借{amount}{term}，",
        "贷{amount}{term}的，",
        "想贷{amount}{term}还完，",
        "申请{amount}{term}，",
        "要{amount}{term}分期，",
        "我贷{amount}{term}，",
        "打算借{amount}{term}，",
        "{amount}{term}的车贷，",
        "办了{amount}{term}，",
        "分期{amount}{term}，",
    ),
    "deferral": (
        "能缓{term}再还吗，",
        "想延期{term}，",
        "宽限{term}行吗，",
        "停{term}再还，",
        "这{term}手头紧，",
        "推迟{term}还款，",
        "晚{term}还可以吗，",
        "最近{term}还不上，",
        "先缓{term}，",
        "延后{term}再扣，",
    ),
    "ratio": (
        "首付{ratio}，",
        "首付能不能{ratio}，",
        "首付付{ratio}行吗，",
        "利率{ratio}太高，",
        "只能付{ratio}首付，",
        "年化{ratio}，",
        "首付{ratio}贷{amount}，",
        "首期{ratio}，",
        "{ratio}的首付，",
        "付了{ratio}首付，贷{amount}，",
    ),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "loan_apply": (
        "我想{kw}",
        "{kw}需要什么材料",
        "怎么{kw}啊",
        "想买辆{car}，能{kw}吗",
        "我想贷{amount}买车，分{term}",
        "{kw}要准备哪些资料",
        "二手车也能贷款吗",
        "买{car}想贷{amount}，{term}还完",
        "在哪里{kw}",
        "{kw}多久能批下来",
        "我没有工作能{kw}吗",
        "首付不够，想{kw}",
        "{kw}的条件是什么",
        "外地户口可以{kw}不",
        "看中一台{car}二手车，想做分期",
        "我要申请{amount}的车贷",
        "帮我办一下车贷，{term}的",
        "新车贷款流程是怎样的",
        "{kw}审核要几天",
        "征信一般能不能{kw}",
        "贷款买车要多少首付",
        "我想买车，钱不够能贷吗",
        "{car}能做{term}分期吗",
        "个体户能办车贷吗",
        "车贷网上能申请吗",
        "想贷款买辆{car}",
        "{kw}最快多久放款",
        "{kw}要不要担保人",
        "我能贷{amount}吗",
        "{kw}需要本人到店吗",
    ),
    "credit_limit": (
        "我的{kw}是多少",
        "查一下{kw}",
        "能不能提高{kw}",
        "{kw}太低了，想提额",
        "怎么提升{kw}",
        "我还能借多少钱",
        "{kw}可以调到{amount}吗",
        "为什么我的{kw}降了",
        "申请提额要什么条件",
        "{kw}能用多久",
        "我想把{kw}提高到{amount}",
        "app上看不到我的{kw}",
        "提额多久审批",
        "剩余{kw}怎么查",
        "{kw}怎么突然没了",
        "我的{kw}被冻结了？",
        "临时额度怎么申请",
        "最高能给我多少{kw}",
        "有没有办法涨{kw}",
        "{kw}还剩多少",
        "我能贷多少钱",
        "额度怎么这么少",
        "给我涨点额度",
        "{kw}什么时候能提",
        "我的{kw}有{amount}吗",
        "为啥{kw}不能用",
        "{kw}能不能多给点",
        "看看我还有多少额度",
        "信用好能提额吗",
        "{kw}被降到{amount}了",
    ),
    "interest_rate": (
        "{kw}是多少",
        "贷{amount}一年{kw}多少",
        "{kw}怎么算的",
        "{term}的{kw}是多少",
        "你们{kw}比银行高吗",
        "借{amount}分{term}总共要还多少利息",
        "有没有低{kw}的方案",
        "{kw}能不能优惠",
        "除了{kw}还有别的费用吗",
        "{kw}是固定的还是浮动的",
        "一个月利息多少钱",
        "贷款{kw}有没有打折",
        "{kw}按月算还是按年算",
        "总利息是多少",
        "一万块一个月{kw}多少",
        "分{term}{kw}会不会更低",
        "利息贵不贵",
        "手续费怎么收",
        "{kw}能再低点吗",
        "{amount}的{kw}大概多少",
        "贷{amount}一个月利息多少",
        "你们收不收手续费",
        "{kw}多少一年",
        "利息能便宜点吗",
        "{kw}是按多少算的",
        "分{term}的话{kw}怎么样",
        "怎么算出来的利息这么多",
        "{kw}包含哪些",
        "等额本息{kw}多少",
        "{kw}有没有活动价",
    ),
    "repayment_query": (
        "这个月要还多少",
        "{kw}是哪天",
        "查一下我的{kw}",
        "我还剩几期没还",
        "我的{kw}怎么看",
        "昨天还的钱到账了吗",
        "扣款成功了没有",
        "每个月{kw}多少钱",
        "下次还款是什么时候",
        "{kw}在app哪里看",
        "还款记录怎么查",
        "我还有多少本金没还",
        "这期{kw}扣了吗",
        "卡里的钱怎么还没扣",
        "还款明细发我一下",
        "{kw}几号扣",
        "{kw}能发给我吗",
        "已经还了{amount}了，还差多少",
        "今天是{kw}吗",
        "我是不是还有{term}要还",
        "这期还了没有",
        "下个月要还多少钱",
        "我的{kw}查不到",
        "还款到账了吗",
        "还有几期还完",
        "{kw}是多少钱",
        "每期还多少",
        "今天扣款了没",
        "帮我查下{kw}",
        "最后一期是哪个月",
    ),
    "early_repayment": (
        "我想{kw}",
        "{kw}有违约金吗",
        "{kw}怎么操作",
        "可以{kw}吗",
        "{kw}要收多少手续费",
        "我想先还{amount}，剩下的慢慢还",
        "部分提前还款可以吗",
        "手上有{amount}，想{kw}",
        "还了{term}了能不能{kw}",
        "{kw}利息怎么算",
        "{kw}需要申请吗",
        "提前还的话违约金多少",
        "一次性把剩下的都还了",
        "{kw}划算吗",
        "想提早把车贷还了",
        "满一年可以{kw}吗",
        "{kw}在app上能办吗",
        "{kw}的话能省多少利息",
        "剩下的本金我想一次还掉",
        "现在{kw}要多少钱",
        "我想把贷款一次还完",
        "能提前把车贷结清吗",
        "{kw}要违约金不",
        "钱够了想{kw}",
        "{kw}要提前几天申请",
        "提前结束贷款怎么弄",
        "我要{kw}，剩多少没还",
        "结清车贷要还多少钱",
        "{kw}可以减免利息吗",
        "部分还款后月供会变少吗",
    ),
    "overdue_negotiation": (
        "我{kw}了怎么办",
        "这个月{kw}，能宽限几天吗",
        "最近失业了{kw}",
        "{kw}会影响征信吗",
        "能不能申请{kw}",
        "{kw}的罚息能减免吗",
        "手头紧，晚几天还行不行",
        "收入少了，想协商一下还款",
        "{kw}了{term}，怎么处理",
        "生病住院，实在{kw}",
        "罚息太高了能不能免掉",
        "能不能少还一点，下个月补上",
        "{kw}会上征信黑名单吗",
        "我不是故意{kw}的",
        "可以延期一个月还吗",
        "{kw}一天罚多少",
        "想申请困难减免",
        "现在还不起，能分期吗",
        "{kw}多久会被起诉",
        "已经{kw}了，先还{amount}可以吗",
        "这个月钱不够还了",
        "下个月再还行吗",
        "还款能不能往后推",
        "{kw}了，别给我打电话了",
        "{kw}会不会影响我的信用",
        "我现在困难，能不能分期还欠款",
        "{kw}利息太多了，能不能免",
        "失业了实在没钱还",
        "{kw}两天有事吗",
        "能给我几天时间吗",
    ),
    "change_card": (
        "我想{kw}",
        "{kw}怎么弄",
        "还款卡丢了要{kw}",
        "扣款的卡换成{bank}的",
        "{kw}需要什么手续",
        "以前的卡注销了，怎么{kw}",
        "能不能用{bank}卡还款",
        "绑定的卡怎么改",
        "{kw}多久生效",
        "我换了新卡，扣款账户要改",
        "app里哪里{kw}",
        "想把{bank}换成别的卡",
        "银行卡被冻结了，想{kw}",
        "换个账户扣款行不行",
        "{kw}会影响这期还款吗",
        "新卡怎么绑定",
        "卡号变了要怎么处理",
        "工资卡换了，{kw}",
        "能不能改成{bank}扣款",
        "解绑旧卡",
        "还款银行卡要换",
        "我要换一张卡扣款",
        "{kw}在哪操作",
        "扣款卡能换吗",
        "{kw}要本人去吗",
        "原来的卡不用了",
        "换成{bank}的卡扣钱",
        "{kw}有没有手续费",
        "怎么改绑定的银行卡",
        "{bank}卡能绑吗",
    ),
    "mortgage_release": (
        "贷款还完了怎么{kw}",
        "{kw}需要什么材料",
        "我的绿本什么时候能拿到",
        "{kw}要去车管所吗",
        "结清了多久能{kw}",
        "{kw}怎么预约",
        "登记证书在你们那吗",
        "绿本寄给我可以吗",
        "{kw}可以委托别人办吗",
        "车要卖了，先{kw}",
        "异地能不能{kw}",
        "抵押什么时候解除",
        "还清后{kw}流程",
        "{car}的绿本还在公司吗",
        "办{kw}要本人去吗",
        "解押材料寄到哪",
        "{kw}要几个工作日",
        "车辆抵押登记怎么注销",
        "我的{car}还押着呢，怎么{kw}",
        "{kw}的时候要带什么",
        "车贷还完了绿本给我",
        "抵押怎么解",
        "{kw}要收费吗",
        "解押要带什么证件",
        "我要办{kw}",
        "绿本什么时候寄出",
        "{kw}流程有哪些",
        "车贷结清后抵押怎么办",
        "{kw}去哪办",
        "怎么去车管所解押",
    ),
    "contract_invoice": (
        "能给我一份{kw}吗",
        "{kw}在哪里下载",
        "我要开{kw}",
        "{kw}丢了能补吗",
        "怎么打印{kw}",
        "{kw}可以邮寄吗",
        "需要一份结清证明",
        "公司报销要{kw}",
        "{kw}开错了能重开吗",
        "把{kw}发我邮箱",
        "合同复印件怎么要",
        "{kw}多久能开出来",
        "app里看不到{kw}",
        "银行要我提供{kw}",
        "发票抬头写错了",
        "{kw}盖章版怎么拿",
        "能开增值税发票吗",
        "贷款结清了，给我开个证明",
        "查一下合同编号",
        "{kw}能不能重新发一次",
        "合同在哪看",
        "给我开张发票",
        "{kw}怎么开",
        "我要贷款合同的电子版",
        "{kw}寄到哪里了",
        "结清证明怎么开",
        "{kw}能开专票吗",
        "找不到我的合同了",
        "帮我发一下{kw}",
        "{kw}打印出来要盖章",
    ),
    "insurance": (
        "{kw}到期了怎么办",
        "{kw}必须在你们这买吗",
        "出险了怎么理赔",
        "我的{kw}在哪查",
        "{kw}能不能自己买",
        "撞车了找谁理赔",
        "{kw}多少钱一年",
        "{kw}第一受益人是谁",
        "续保提醒怎么关",
        "保单寄给我",
        "{kw}退保怎么办",
        "明年{kw}可以换保险公司吗",
        "车被刮了能报{kw}吗",
        "{kw}理赔款打到哪",
        "贷款期间必须买全险吗",
        "{kw}过期会有影响吗",
        "查一下{kw}的保单号",
        "{car}的{kw}怎么续",
        "事故理赔需要什么材料",
        "{kw}买了没有",
        "车险快到期了",
        "保险要自己交吗",
        "{kw}怎么买",
        "保险公司能自己选吗",
        "{kw}什么时候到期",
        "出了车祸怎么理赔",
        "{kw}要交多少",
        "车险必须买全险吗",
        "理赔要多久",
        "{kw}能不能在外面买",
    ),
    "complaint": (
        "我要{kw}",
        "你们催收天天打电话骚扰我家人",
        "{kw}你们乱扣费",
        "客服态度太差了",
        "为什么多扣了我{amount}",
        "催收员说话太难听",
        "我要{kw}到银保监会",
        "你们是不是乱收费",
        "打了好几次电话都没人处理，我要{kw}",
        "天天打电话烦死了",
        "凭什么收这么多钱",
        "{kw}你们的业务员",
        "销售骗我说没有手续费",
        "我要求退还多收的费用",
        "对你们的服务非常不满意",
        "再骚扰我就报警",
        "怎么{kw}",
        "给我通讯录的朋友打电话是违法的",
        "{kw}电话是多少",
        "你们的{kw}流程是什么",
        "你们乱扣我钱",
        "催收太过分了",
        "{kw}有人管吗",
        "骗子公司",
        "要去法院告你们",
        "凭什么扣我违约金，我要{kw}",
        "你们服务太差了",
        "{kw}到消协",
        "业务员态度太差",
        "我被{kw}了",
    ),
    "human_agent": (
        "{kw}",
        "转{kw}",
        "我要找{kw}",
        "能不能让{kw}跟我说",
        "机器人听不懂，换{kw}",
        "有没有真人",
        "{kw}电话多少",
        "帮我接{kw}",
        "不要机器人",
        "叫你们经理来",
        "我要跟人说话",
        "{kw}什么时候上班",
        "找个活人",
        "怎么联系{kw}",
        "{kw}一直排队",
        "我要和客户经理通话",
        "接通{kw}",
        "你是机器人吗，我要人工",
        "直接给我{kw}",
        "{kw}在不在",
        "我要找人工",
        "人呢",
        "给我转接人工",
        "{kw}在吗",
        "跟机器人说不清楚",
        "我想和真人聊",
        "找你们工作人员",
        "叫个{kw}来",
        "有人工吗",
        "让人工联系我",
    ),
}

# Wordings that carry no intent of their own: the key term decides. Split once for all intents.
GENERIC_FRAMES = (
    "问一下{kw}",
    "{kw}的问题",
    "关于{kw}想咨询一下",
    "{kw}怎么办理",
    "{kw}找谁",
    "我想了解{kw}",
    "{kw}的事",
    "帮我看看{kw}",
    "咨询{kw}",
    "{kw}相关的",
    "有关{kw}的事情",
    "{kw}，在线等",
    "说说{kw}",
    "{kw}这块",
)

OUT_OF_SCOPE = (
    "附近有什么好吃的",
    "今天天气不错",
    "讲个笑话",
    "足球比赛几点开始",
    "帮我订一张机票",
    "推荐一部电影",
    "明天会下雨吗",
    "你喜欢什么颜色",
    "哈哈哈哈",
    "在干嘛",
    "今晚吃什么",
    "周末去哪玩",
    "股票涨了吗",
    "我家猫不吃饭",
    "手机充不进电",
    "帮我写首诗",
    "世界杯谁赢了",
    "快递到哪了",
    "外卖怎么还没到",
    "你多大了",
)

CARS = ("大众", "丰田", "本田", "比亚迪", "特斯拉", "宝马", "奔驰", "五菱", "吉利", "长安", "日产", "奥迪")
BANKS = ("工商银行", "建行", "招商银行", "农行", "中国银行", "交通银行", "邮储")
AMOUNTS = (5000, 8000, 10000, 15000, 20000, 30000, 35000, 50000, 80000, 100000, 120000, 150000, 200000, 300000)
TERMS = (3, 6, 12, 18, 24, 36, 48, 60)
OPENERS = (
    "",
    "",
    "",
    "",
    "你好，",
    "您好，",
    "请问",
    "喂，",
    "那个，",
    "hi，",
    "hello ",
    "麻烦问下，",
    "我想问下，",
    "嗯，",
    "客服你好，",
)
CLOSERS = ("", "", "", "", "？", "??", "。", "呢", "啊", "呀", "吧", "，谢谢", "，急", " thx", " pls", "～", "!")
# Typed by pinyin input: the wrong character of the same sound.
HOMOPHONES = {
    "还": "换",
    "贷": "代",
    "利": "力",
    "息": "系",
    "期": "其",
    "账": "帐",
    "险": "显",
    "额": "鹅",
    "度": "渡",
    "逾": "愈",
    "合": "和",
    "票": "飘",
    "证": "正",
    "押": "压",
    "诉": "述",
    "卡": "咔",
    "款": "宽",
    "申": "深",
}
ENGLISH = {
    "贷款": "loan",
    "额度": "limit",
    "发票": "invoice",
    "合同": "contract",
    "保险": "insurance",
    "人工": "human",
    "app": "APP",
}
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str | None  # None: out of scope
    template: str  # "intent/index": what the split keeps apart
    spans: tuple[tuple[int, int, str], ...] = ()  # (start, end, slot) character offsets
    amount: int | None = None
    term_months: int | None = None
    frame: str = ""  # the SLOT_FRAMES class the message carries, if any


@dataclass(frozen=True)
class CorpusSpec:
    per_template_train: int = 60
    per_template_eval: int = 30
    test_share: float = 0.2
    dev_share: float = 0.15
    seed: int = 13


@dataclass
class Corpus:
    train: list[Example] = field(default_factory=list)
    dev: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def split_templates(templates: tuple[str, ...], spec: CorpusSpec, rng: random.Random) -> dict[str, list[int]]:
    """Template indices per split; at least one template in each of dev and test."""
    order = list(range(len(templates)))
    rng.shuffle(order)
    n_test = max(1, round(len(order) * spec.test_share))
    n_dev = max(1, round(len(order) * spec.dev_share))
    return {"test": order[:n_test], "dev": order[n_test : n_test + n_dev], "train": order[n_test + n_dev :]}


def _roughen(piece: str, rng: random.Random) -> str:
    """Chat noise on the template's own words (never inside a slot value)."""
    for word, english in ENGLISH.items():
        if word in piece and rng.random() < 0.08:
            piece = piece.replace(word, english)
    if rng.random() < 0.15:
        chars = list(piece)
        candidates = [i for i, c in enumerate(chars) if c in HOMOPHONES]
        if candidates:
            i = rng.choice(candidates)
            chars[i] = HOMOPHONES[chars[i]]
        piece = "".join(chars)
    return piece


@dataclass
class _Filled:
    text: str = ""
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    values: dict[str, int] = field(default_factory=dict)


def _fill(template: str, intent: str | None, rng: random.Random, filled: _Filled) -> _Filled:
    """Append `template` with its placeholders filled to `filled`, recording slot spans and values."""
    pieces = _SLOT.split(template)  # literal, name, literal, name, ...
    for position, piece in enumerate(pieces):
        if position % 2 == 0:
            filled.text += _roughen(piece, rng)
            continue
        if piece == "amount":
            filled.values["amount"] = rng.choice(AMOUNTS)
            value = render_amount(filled.values["amount"], rng)
            filled.spans.append((len(filled.text), len(filled.text) + len(value), "amount"))
        elif piece == "term":
            filled.values["term_months"] = rng.choice(TERMS)
            value = render_term(filled.values["term_months"], rng)
            # Nobody writes 30000 and 18个月 as "30000018个月": after a bare number, a term is in words.
            while filled.text[-1:].isdigit() and value[0].isdigit():
                value = render_term(filled.values["term_months"], rng)
            filled.spans.append((len(filled.text), len(filled.text) + len(value), "term_months"))
        elif piece == "ratio":
            value = render_ratio(rng)  # not a slot: the tagger must leave it out
        elif piece == "kw":
            value = _roughen(rng.choice(KEY_TERMS[intent or ""]), rng)
        elif piece == "car":
            value = rng.choice(CARS)
        elif piece == "bank":
            value = rng.choice(BANKS)
        else:
            raise ValueError(f"unknown placeholder {{{piece}}} in {template!r}")
        filled.text += value
    return filled


def render(
    intent: str | None, index: int, template: str, rng: random.Random, frames: list[tuple[str, str]] = ()
) -> Example:
    """One message of `template`; an in-scope one without slots of its own may open with a slot context,
    either a plain one (CONTEXTS) or one of `frames` ((class, frame) of SLOT_FRAMES, this split's)."""
    filled = _Filled(text=rng.choice(OPENERS))
    has_slots = "{amount}" in template or "{term}" in template
    frame = ""
    roll = rng.random()
    if intent is not None and not has_slots and roll < 0.25:
        _fill(rng.choice(CONTEXTS), None, rng, filled)
    elif intent is not None and not has_slots and frames and roll < 0.45:
        frame, context = rng.choice(frames)
        _fill(context, None, rng, filled)
    _fill(template, intent, rng, filled)
    filled.text += rng.choice(CLOSERS)
    return Example(
        text=filled.text,
        intent=intent,
        template=f"{intent or 'out_of_scope'}/{index}",
        spans=tuple(filled.spans),
        amount=filled.values.get("amount"),
        term_months=filled.values.get("term_months"),
        frame=frame,
    )


def generate(spec: CorpusSpec = CorpusSpec()) -> Corpus:
    rng = random.Random(spec.seed)
    corpus = Corpus()
    generic = split_templates(GENERIC_FRAMES, spec, rng)
    groups: list[tuple[str | None, tuple[str, ...], dict[str, list[int]]]] = []
    for intent in INTENTS:
        own = split_templates(TEMPLATES[intent], spec, rng)
        shift = len(TEMPLATES[intent])
        splits = {name: own[name] + [shift + i for i in generic[name]] for name in own}
        groups.append((intent, TEMPLATES[intent] + GENERIC_FRAMES, splits))
    groups.append((None, OUT_OF_SCOPE, split_templates(OUT_OF_SCOPE, spec, rng)))
    frames: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for kind, wordings in SLOT_FRAMES.items():
        for split, indices in split_templates(wordings, spec, rng).items():
            frames[split] += [(kind, wordings[i]) for i in indices]
    for intent, templates, splits in groups:
        for split, indices in splits.items():
            count = spec.per_template_train if split == "train" else spec.per_template_eval
            if intent is None:
                count = max(1, count // 3)  # chit-chat is a minority of real traffic
            target = getattr(corpus, split)
            for index in indices:
                n = count // 3 if templates[index] in GENERIC_FRAMES else count
                target.extend(render(intent, index, templates[index], rng, frames[split]) for _ in range(n))
    for part in (corpus.train, corpus.dev, corpus.test):
        rng.shuffle(part)
    return corpus


def intent_messages(n: int, seed: int) -> list[str]:
    """Unique customer messages (held-out wordings with a serial number), so that no cache answers them."""
    texts = [e.text for e in generate(CorpusSpec(per_template_train=1, per_template_eval=20, seed=seed)).test]
    return [f"{texts[i % len(texts)]} #{i}" for i in range(n)]
