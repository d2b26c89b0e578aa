"""The kinds of self-proof documents finfer recognises, each with the fields a lender reads from it.

One declaration a kind: its titles (what the classifier and the renderer print at the top), and its
fields, each with the printed labels it follows and the type its value parses as (values.py). This list
is the only place a kind is named: the renderer, the reader, the classifier, the application's checks
and the API's schema all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Type(StrEnum):
    """How a field's printed value is parsed and checked (values.parse)."""

    TEXT = "text"  # any text; no rule
    NAME = "name"  # a person's name in Chinese characters
    ID_NUMBER = "id_number"  # GB 11643: 18 characters, the last a check character
    USCC = "uscc"  # GB 32100 unified social credit code: 18 characters, the last a check character
    CARD = "card"  # a bank card number: Luhn check digit
    VIN = "vin"  # ISO 3779: the ninth character is a check digit
    PLATE = "plate"  # a Chinese number plate
    DATE = "date"  # YYYY-MM-DD; valid when a real calendar date
    MONTH = "month"  # YYYY-MM
    PERIOD = "period"  # YYYY-MM-DD/YYYY-MM-DD, or YYYY-MM-DD/long-term
    AMOUNT = "amount"  # yuan with two decimals
    INTEGER = "integer"
    CODE = "code"  # letters and digits (policy, certificate and engine numbers)


class Role(StrEnum):
    """What a field tells the application's checks (application/crosschecks.py)."""

    APPLICANT_ID = "applicant_id"  # the applicant's ID number: against the declared one
    OWNER = "owner"  # the vehicle's owner or buyer: against the applicant's name
    VALID_UNTIL = "valid_until"  # a validity period: expired on the day of the decision
    INCOME = "income"  # monthly income evidence: against the declared monthly income
    PRICE = "price"  # the vehicle's price: against the declared price and the loan amount
    LOAN_AMOUNT = "loan_amount"  # the contract's amount: against the declared amount


@dataclass(frozen=True)
class FieldSpec:
    name: str
    labels: tuple[str, ...]  # as printed; the first is the usual one
    type: Type
    personal: bool = False  # a name, ID number, account or address: never in logs or the record in clear
    role: Role | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    titles: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    description: str

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def _f(name: str, labels: str, type_: Type, personal: bool = False, role: Role | None = None) -> FieldSpec:
    if type_ is Type.ID_NUMBER and role is None:
        role = Role.APPLICANT_ID  # the applicant proves themselves with their own papers
    return FieldSpec(name, tuple(labels.split("|")), type_, personal, role)


T, R = Type, Role
KINDS: tuple[Kind, ...] = (
    Kind(
        "id_card_front",
        ("居民身份证",),
        (
            _f("name", "姓名", T.NAME, True),
            _f("birth_date", "出生|出生日期", T.DATE),
            _f("address", "住址", T.TEXT, True),
            _f("id_number", "公民身份号码|身份号码", T.ID_NUMBER, True),
        ),
        "Resident ID card, front",
    ),
    Kind(
        "id_card_back",
        ("中华人民共和国 居民身份证", "中华人民共和国居民身份证"),
        (_f("authority", "签发机关", T.TEXT), _f("validity", "有效期限", T.PERIOD, role=R.VALID_UNTIL)),
        "Resident ID card, back",
    ),
    Kind(
        "driving_licence",
        ("中华人民共和国机动车驾驶证", "机动车驾驶证"),
        (
            _f("licence_number", "证号|驾驶证号", T.ID_NUMBER, True),
            _f("name", "姓名", T.NAME, True),
            _f("class", "准驾车型", T.CODE),
            _f("validity", "有效期限|有效期", T.PERIOD, role=R.VALID_UNTIL),
        ),
        "Driving licence",
    ),
    Kind(
        "vehicle_licence",
        ("中华人民共和国机动车行驶证", "机动车行驶证"),
        (
            _f("plate", "号牌号码", T.PLATE),
            _f("vin", "车辆识别代号|车辆识别代码", T.VIN),
            _f("engine_number", "发动机号码|发动机号", T.CODE),
            _f("owner", "所有人", T.NAME, True, R.OWNER),
            _f("registration_date", "注册日期", T.DATE),
        ),
        "Vehicle licence (行驶证)",
    ),
    Kind(
        "registration_certificate",
        ("机动车登记证书",),
        (
            _f("certificate_number", "登记证书编号|证书编号", T.CODE),
            _f("owner", "机动车所有人|所有人", T.NAME, True, R.OWNER),
            _f("vin", "车辆识别代号|车架号", T.VIN),
            _f("mortgagee", "抵押权人|质押权人", T.TEXT),
        ),
        "Vehicle registration certificate (机动车登记证书)",
    ),
    Kind(
        "conformity_certificate",
        ("机动车整车出厂合格证", "车辆合格证"),
        (
            _f("certificate_number", "合格证编号", T.CODE),
            _f("vin", "车辆识别代号|车架号", T.VIN),
            _f("model", "车辆型号", T.CODE),
            _f("engine_number", "发动机号|发动机号码", T.CODE),
        ),
        "Vehicle conformity certificate (合格证)",
    ),
    Kind(
        "purchase_invoice",
        ("机动车销售统一发票",),
        (
            _f("buyer", "购买方名称|购货单位(人)|购货单位", T.NAME, True, R.OWNER),
            _f("buyer_id", "身份证号码/组织机构代码|身份证号码", T.ID_NUMBER, True),
            _f("vin", "车架号码|车辆识别代号", T.VIN),
            _f("price", "价税合计|价税合计(小写)", T.AMOUNT, role=R.PRICE),
            _f("tax", "增值税税额|税额", T.AMOUNT),
            _f("seller_code", "纳税人识别号|销货单位纳税人识别号", T.USCC),
            _f("date", "开票日期", T.DATE),
        ),
        "Vehicle purchase invoice (机动车销售统一发票)",
    ),
    Kind(
        "purchase_tax_certificate",
        ("车辆购置税完税证明", "车辆购置税完税凭证"),
        (
            _f("taxpayer", "纳税人名称|纳税人", T.NAME, True),
            _f("vin", "车辆识别代号|车架号", T.VIN),
            _f("tax", "实缴税额|完税金额", T.AMOUNT),
            _f("date", "填发日期|完税日期", T.DATE),
        ),
        "Purchase-tax certificate",
    ),
    Kind(
        "compulsory_insurance",
        ("机动车交通事故责任强制保险单", "交强险保险单"),
        (
            _f("policy_number", "保险单号|保单号", T.CODE),
            _f("insured", "被保险人", T.NAME, True),
            _f("plate", "号牌号码|车牌号", T.PLATE),
            _f("vin", "识别代码(车架号)|车架号", T.VIN),
            _f("period", "保险期间|保险期限", T.PERIOD, role=R.VALID_UNTIL),
        ),
        "Compulsory traffic insurance (交强险) policy",
    ),
    Kind(
        "commercial_insurance",
        ("机动车商业保险保险单", "机动车综合商业保险单"),
        (
            _f("insurer", "保险人|承保公司", T.TEXT),
            _f("policy_number", "保险单号|保单号", T.CODE),
            _f("insured", "被保险人", T.NAME, True),
            _f("period", "保险期间|保险期限", T.PERIOD, role=R.VALID_UNTIL),
            _f("insured_sum", "保险金额|车损险保额", T.AMOUNT),
        ),
        "Commercial vehicle insurance policy",
    ),
    Kind("vin_plate", (), (_f("vin", "VIN|车辆识别代号", T.VIN),), "VIN plate"),
    Kind(
        "contract",
        ("汽车消费贷款合同", "汽车贷款合同"),
        (
            _f("lender", "贷款人", T.TEXT),
            _f("borrower", "借款人", T.NAME, True),
            _f("id_number", "身份证号|身份证号码", T.ID_NUMBER, True),
            _f("amount", "贷款金额|借款金额", T.AMOUNT, role=R.LOAN_AMOUNT),
            _f("term_months", "贷款期限|借款期限", T.INTEGER),
            _f("vin", "车辆识别代号|车架号", T.VIN),
            _f("date", "签订日期|签约日期", T.DATE),
        ),
        "Loan contract",
    ),
    Kind(
        "pay_slip",
        ("工资条", "工资单", "员工工资明细"),
        (
            _f("employer", "单位|发薪单位", T.TEXT),
            _f("employee", "姓名|员工姓名", T.NAME, True),
            _f("month", "工资月份|发薪月份", T.MONTH),
            _f("gross_pay", "应发工资|应发合计", T.AMOUNT, role=R.INCOME),
            _f("net_pay", "实发工资|实发金额", T.AMOUNT),
        ),
        "Pay slip",
    ),
    Kind(
        "income_certificate",
        ("收入证明", "工作及收入证明"),
        (
            _f("name", "姓名", T.NAME, True),
            _f("id_number", "身份证号码|身份证号", T.ID_NUMBER, True),
            _f("employer", "工作单位|单位名称", T.TEXT),
            _f("monthly_income", "月收入|月均收入", T.AMOUNT, role=R.INCOME),
            _f("date", "开具日期|日期", T.DATE),
        ),
        "Income certificate from an employer",
    ),
    Kind(
        "bank_statement",
        ("个人账户交易明细", "银行流水", "账户对账单"),
        (
            _f("holder", "户名|账户名称", T.NAME, True),
            _f("account", "卡号|账号", T.CARD, True),
            _f("statement_period", "查询期间|起止日期", T.PERIOD),
            _f("credits", "收入合计|贷方发生额", T.AMOUNT),
            _f("debits", "支出合计|借方发生额", T.AMOUNT),
            _f("balance", "期末余额|账户余额", T.AMOUNT),
            _f("salary", "代发工资|工资", T.AMOUNT, role=R.INCOME),
        ),
        "Bank statement page",
    ),
    Kind(
        "social_insurance",
        ("社会保险个人权益记录", "社会保险参保缴费证明"),
        (
            _f("name", "姓名", T.NAME, True),
            _f("id_number", "社会保障号码|身份证号码", T.ID_NUMBER, True),
            _f("months_paid", "累计缴费月数|缴费月数", T.INTEGER),
            _f("base", "缴费基数|月缴费基数", T.AMOUNT, role=R.INCOME),
        ),
        "Social-insurance payment record",
    ),
    Kind(
        "provident_fund",
        ("住房公积金缴存证明", "住房公积金个人账户明细"),
        (
            _f("name", "姓名|职工姓名", T.NAME, True),
            _f("account", "个人账号|公积金账号", T.CODE, True),
            _f("monthly_deposit", "月缴存额|月缴额", T.AMOUNT),
            _f("base", "缴存基数|缴交基数", T.AMOUNT, role=R.INCOME),
        ),
        "Housing-provident-fund (公积金) statement",
    ),
    Kind(
        "business_licence",
        ("营业执照",),
        (
            _f("uscc", "统一社会信用代码", T.USCC),
            _f("company", "名称|企业名称", T.TEXT),
            _f("representative", "法定代表人|负责人", T.NAME, True),
            _f("established", "成立日期|注册日期", T.DATE),
            _f("validity", "营业期限", T.PERIOD, role=R.VALID_UNTIL),
        ),
        "Business licence (营业执照)",
    ),
    Kind(
        "property_certificate",
        ("不动产权证书",),
        (
            _f("certificate_number", "不动产权证号|证书编号", T.CODE),
            _f("owner", "权利人", T.NAME, True),
            _f("location", "坐落", T.TEXT, True),
            _f("area", "面积|建筑面积", T.AMOUNT),
        ),
        "Property certificate (不动产权证书)",
    ),
    Kind(
        "marriage_certificate",
        ("结婚证",),
        (
            _f("holder", "持证人", T.NAME, True),
            _f("date", "登记日期", T.DATE),
            _f("certificate_number", "结婚证字号|证件编号", T.CODE),
            _f("id_number", "身份证件号|身份证号", T.ID_NUMBER, True),
        ),
        "Marriage certificate",
    ),
    Kind(
        "household_register",
        ("常住人口登记卡", "居民户口簿"),
        (
            _f("name", "姓名", T.NAME, True),
            _f("relation", "户主或与户主关系|与户主关系", T.TEXT),
            _f("birth_date", "出生日期", T.DATE),
            _f("id_number", "公民身份号码|身份证号码", T.ID_NUMBER, True),
        ),
        "Household register page (户口本)",
    ),
    Kind(
        "labour_contract",
        ("劳动合同书", "劳动合同"),
        (
            _f("employer", "甲方(用人单位)|甲方", T.TEXT),
            _f("employee", "乙方(劳动者)|乙方", T.NAME, True),
            _f("id_number", "身份证号码|身份证号", T.ID_NUMBER, True),
            _f("term", "合同期限|劳动合同期限", T.PERIOD),
            _f("monthly_salary", "月工资|月薪", T.AMOUNT, role=R.INCOME),
        ),
        "Labour contract",
    ),
    Kind(
        "utility_bill",
        ("电费缴费通知单", "国网电费账单", "燃气费账单"),
        (
            _f("holder", "户名", T.NAME, True),
            _f("account_number", "户号|用户编号", T.CODE),
            _f("address", "用电地址|用气地址|地址", T.TEXT, True),
            _f("month", "账期|计费月份", T.MONTH),
            _f("amount_due", "应缴金额|本期应缴", T.AMOUNT),
        ),
        "Utility bill as proof of address",
    ),
)
# Field names that hold a name, an ID or account number or an address on some kind: digested wherever they appear.
PERSONAL = frozenset(f.name for k in KINDS for f in k.fields if f.personal)
UNKNOWN = "unknown"  # not a document finfer knows: a photo of a car, a blank page, a screenshot
BY_NAME = {kind.name: kind for kind in KINDS}
NAMES = tuple(BY_NAME)
# Kind names clients sent before there was a catalogue, and what they meant.
ALIASES = {"id_card": "id_card_front"}
# The kinds a client may say a page is.
ACCEPTED = (*NAMES, *ALIASES)


def kind(name: str) -> Kind:
    return BY_NAME[ALIASES.get(name, name)]


def kind_mismatch(sent: str | None, read: str) -> str | None:
    """KIND_MISMATCH's text when a page sent as one kind (aliases included) is read as another; None when no kind
    was sent or it is the kind read. The page's own answer and the application's cross-checks say it alike."""
    if sent is None or kind(sent).name == read:
        return None
    return f"sent as {sent}, read as {read}"
